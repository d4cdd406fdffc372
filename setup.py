from setuptools import find_packages, setup

# twisted/plugins has no __init__.py: list it explicitly so the drop-in is
# installed where twistd's plugin scan finds it.
setup(packages=find_packages(exclude=["twisted*", "bench*", "docs*"]) + ["twisted.plugins"])
