import StreamdCLI

await StreamdCommand.main()
