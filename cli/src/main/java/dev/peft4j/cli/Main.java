package dev.peft4j.cli;

import dev.peft4j.api.UserException;
import dev.peft4j.models.peft.PeftMethods;
import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code peft4j} command. */
@Command(name = "peft4j", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Parameter-efficient fine-tuning of LLaMA-architecture models, in Java.",
        subcommands = {CompareCommand.class, FinetuneCommand.class, PretrainCommand.class, PrepareCommand.class, MergeCommand.class, GenerateCommand.class, EvalCommand.class, TokenizeCommand.class, PluginsCommand.class, ConvertCommand.class, BenchCommand.class,
                CommandLine.HelpCommand.class})
public final class Main implements Runnable {

    public static void main(String[] args) {
        System.exit(run(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true)));
    }

    /** Runs the command line; returns the exit code (0 ok, 1 failure, 2 bad usage or input). */
    public static int run(String[] args, PrintWriter out, PrintWriter err) {
        CommandLine cli = new CommandLine(new Main());
        // the methods' own flags (--lora-r, a plugin's), from the class path and the --plugins directory named
        PeftMethods methods;
        try {
            methods = PeftMethods.discover(MethodOptions.pluginsDir(args));
        } catch (UserException e) { // a bad --plugins: the command reports it when it discovers; the class path's flags meanwhile
            methods = PeftMethods.discover(null);
        }
        try {
            MethodOptions.register(cli.getSubcommands().get("finetune").getCommandSpec(), methods);
        } catch (UserException e) {
            err.println("peft4j: error: " + e.getMessage());
            return 2;
        }
        cli.setOut(out);
        cli.setErr(err);
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            Integer code = userError(e, commandLine);
            if (code != null) return code;
            commandLine.getErr().println("peft4j: internal error: " + e);
            e.printStackTrace(commandLine.getErr());
            return 1;
        });
        return cli.execute(args);
    }

    /**
     * One rank of a data-parallel {@code finetune} (see {@link dev.peft4j.cli.scaleout.Worker}): bad input returns 2 with
     * the message; anything else is rethrown, so that the engine fails the task.
     */
    public static dev.peft4j.cli.scaleout.Worker.Result runWorker(java.util.List<String> args, dev.peft4j.models.train.GradientReducer reducer,
                                                                  boolean relaunch) {
        java.io.StringWriter o = new java.io.StringWriter(), e = new java.io.StringWriter();
        FinetuneCommand command = new FinetuneCommand();
        command.reducer = reducer;
        command.relaunch = relaunch;
        CommandLine cli = new CommandLine(command);
        String[] argv = args.toArray(String[]::new);
        // the methods' flags, as run() registers them (a bad --plugins was already refused on the driver)
        MethodOptions.register(cli.getCommandSpec(), PeftMethods.discover(MethodOptions.pluginsDir(argv)));
        cli.setOut(new PrintWriter(o, true));
        cli.setErr(new PrintWriter(e, true));
        RuntimeException[] thrown = new RuntimeException[1];
        cli.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            Integer code = userError(ex, commandLine);
            if (code != null) return code;
            thrown[0] = ex instanceof RuntimeException r ? r : new RuntimeException(ex);
            return 1;
        });
        int code = cli.execute(argv);
        if (thrown[0] != null) throw thrown[0];
        return new dev.peft4j.cli.scaleout.Worker.Result(code, o.toString(), e.toString());
    }

    /** The exit code for a UserException or a failed write (printing its message), or null for anything else. */
    private static Integer userError(Exception e, CommandLine commandLine) {
            Throwable cause = e;
            while (cause != null && !(cause instanceof UserException)) cause = cause.getCause();
            if (cause != null) {
                commandLine.getErr().println("peft4j: error: " + cause.getMessage());
                return 2;
            }
            // a file that cannot be written (a full disk): one line naming it, no stack trace
            for (Throwable t = e; t != null; t = t.getCause()) {
                if (t instanceof dev.peft4j.api.io.AtomicFiles.WriteFailure) {
                    commandLine.getErr().println("peft4j: error: " + t.getMessage());
                    return 1;
                }
            }
            return null;
    }

    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[]{"peft4j " + (v == null ? "(development build)" : v) + ", Java " + Runtime.version()};
        }
    }
}
