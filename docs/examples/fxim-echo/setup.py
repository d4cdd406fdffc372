from setuptools import find_packages, setup

setup(
    name="fxim-echo",
    version="1.0",
    description="Example fxim handler plugin: subsignal 64 (ECHO)",
    # No __init__.py in twisted/ or twisted/plugins/: list the drop-in folder.
    packages=find_packages(exclude=["twisted*"]) + ["twisted.plugins"],
    install_requires=["fxim"],
)
