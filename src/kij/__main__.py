from kij.cli import main

main()
