package io.kvstream.app;

import io.kvstream.cli.BenchCommand;
import io.kvstream.cli.EvalCommand;
import io.kvstream.cli.GenerateCommand;
import io.kvstream.cli.SynthCommand;
import io.kvstream.client.ChatCommand;
import io.kvstream.client.ReplayCommand;
import io.kvstream.client.VideoCommand;
import io.kvstream.local.LocalCommand;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code kvstream} command line: one subcommand per tool. */
@Command(
        name = "kvstream",
        mixinStandardHelpOptions = true,
        version = "kvstream 0.1.0",
        description = "Stateful LLM inference on streams.",
        subcommands = {
            GenerateCommand.class, EvalCommand.class, BenchCommand.class, SynthCommand.class,
            LocalCommand.class, ChatCommand.class, VideoCommand.class, ReplayCommand.class
        })
public final class Kvstream implements Runnable {

    @Override
    public void run() {
        CommandLine.usage(this, System.out);
    }

    public static void main(String[] args) {
        CommandLine cli = new CommandLine(new Kvstream());
        cli.setExecutionExceptionHandler(
                (e, commandLine, parseResult) -> {
                    // Expected failures (bad file, bad input) get one line, not a stack trace.
                    commandLine.getErr().println(commandLine.getCommandName() + ": " + e.getMessage());
                    if (Boolean.getBoolean("kvstream.debug")) {
                        e.printStackTrace(commandLine.getErr());
                    }
                    return 1;
                });
        System.exit(cli.execute(args));
    }
}
