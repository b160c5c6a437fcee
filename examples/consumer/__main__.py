from examples.consumer.consumer import main

main()
