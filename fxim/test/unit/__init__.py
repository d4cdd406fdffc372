"""
fxim's unit tests: in-process, with twins, Clock and StringTransport.
"""
