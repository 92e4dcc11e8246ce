from usertrack.cli import main

main()
