from fxim.admin.cli import main

main()
