import io.kvstream.cli.BenchCommand;
import io.kvstream.cli.EvalCommand;
import io.kvstream.cli.GenerateCommand;
import io.kvstream.cli.SynthCommand;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.util.Arrays;

import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

/**
 * The entry point of the .gpu pack (bench/gpu-pack.sh), for machines with a GPU but no Maven:
 * {@code test [CLASS...]} runs the GPU tests (and the cuda package's host tests) on the JUnit
 * platform; {@code eval}, {@code generate}, {@code bench}, {@code synth} are the operators-gpu
 * commands as bin/kvstream runs them.
 */
public final class GpuMain {

    private static final String[] DEFAULT_TESTS = {
        "io.kvstream.runtime.CudaGoldenTest",
        "io.kvstream.runtime.BackendFactoryTest",
        "io.kvstream.runtime.cuda.CudaDeviceTest",
        "io.kvstream.runtime.cuda.StepPlanTest",
        "io.kvstream.runtime.cuda.KvResidencyTest",
        "io.kvstream.runtime.cuda.BlockTableTest",
        "io.kvstream.runtime.cuda.PagePoolTest",
    };

    public static void main(String[] args) {
        if (args.length > 0 && args[0].equals("test")) {
            System.exit(test(Arrays.copyOfRange(args, 1, args.length)));
        }
        CommandLine cli = new CommandLine(new Root())
                .addSubcommand("eval", new EvalCommand())
                .addSubcommand("generate", new GenerateCommand())
                .addSubcommand("bench", new BenchCommand())
                .addSubcommand("synth", new SynthCommand());
        System.exit(cli.execute(args));
    }

    private static int test(String[] classes) {
        LauncherDiscoveryRequestBuilder request = LauncherDiscoveryRequestBuilder.request();
        if (classes.length == 0) {
            // Named, not scanned: scanning jars needs jdk.zipfs in the runtime. PtxResourcesTest reads
            // src/main/cuda, which the pack does not carry.
            for (String c : DEFAULT_TESTS) {
                request.selectors(selectClass(c));
            }
        } else {
            for (String c : classes) {
                request.selectors(selectClass(c));
            }
        }
        LauncherDiscoveryRequest built = request.build();
        Launcher launcher = LauncherFactory.create();
        SummaryGeneratingListener listener = new SummaryGeneratingListener();
        launcher.execute(built, listener, new ReportingListener());
        TestExecutionSummary summary = listener.getSummary();
        PrintWriter out = new PrintWriter(System.out, true);
        summary.printTo(out);
        summary.printFailuresTo(out, 30);
        return summary.getTotalFailureCount() == 0 && summary.getTestsSucceededCount() + summary.getTestsSkippedCount()
                + summary.getTestsAbortedCount() > 0 ? 0 : 1;
    }

    /** One line per finished or skipped test, so that a run's log says what ran. */
    private static final class ReportingListener implements org.junit.platform.launcher.TestExecutionListener {
        @Override
        public void executionFinished(
                org.junit.platform.launcher.TestIdentifier id, org.junit.platform.engine.TestExecutionResult result) {
            if (id.isTest()) {
                System.out.printf("%-8s %s%s%n", result.getStatus(), id.getDisplayName(),
                        result.getThrowable().map(t -> " : " + t.getMessage()).orElse(""));
            }
        }

        @Override
        public void executionSkipped(org.junit.platform.launcher.TestIdentifier id, String reason) {
            System.out.printf("SKIPPED  %s : %s%n", id.getDisplayName(), reason);
        }
    }

    @CommandLine.Command(name = "gpu", mixinStandardHelpOptions = true,
            description = "kvstream runtime commands and GPU tests from the .gpu pack")
    private static final class Root implements Runnable {
        @Override
        public void run() {
            CommandLine.usage(this, System.out);
        }
    }
}
