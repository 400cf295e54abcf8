from campushub.cli import main

main()
