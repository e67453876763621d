from sci_evidence.cli import main

main()
