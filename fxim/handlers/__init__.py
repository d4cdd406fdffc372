"""
Built-in handler plugins, one module (and one plugin) per family, so that
C{--disable-plugin} can drop a family: C{fxim.connect}, C{fxim.messages},
C{fxim.friends}, C{fxim.users}, C{fxim.groups}, C{fxim.media}.
"""
