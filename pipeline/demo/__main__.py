from pipeline.demo.build import main

main()
