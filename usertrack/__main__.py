from usertrack.launch import main

main()
