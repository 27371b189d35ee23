package dev.peft4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** finetune --spark without the peft4j-spark artifact (this module's class path has none), and the worker's arguments. */
class ScaleOutOptionTest {
    @Test
    void sparkWithoutTheSparkArtifactSaysWhatToRun(@TempDir Path dir) throws Exception {
        Path data = dir.resolve("d.txt");
        Files.writeString(data, "some text");
        CliTest.assertUserError(CliTest.run("finetune", "--model", dir.toString(), "--data", data.toString(), "--spark", "local[2]"),
                "--spark: Spark support is not on the class path: run ./peft4j with PEFT4J_SPARK=1 (it builds cli/spark), or spark-submit cli/spark/target/peft4j-spark-submit.jar");
        CliTest.assertUserError(CliTest.run("finetune", "--model", dir.toString(), "--data", data.toString(), "--workers", "2"), "--workers needs --spark MASTER");
        CliTest.assertUserError(CliTest.run("finetune", "--model", dir.toString(), "--data", data.toString(), "--spark", "local[2]", "--device", "tornado"),
                "--spark runs the steps on the CPU: --device tornado cannot be combined with it");
    }

    @Test
    void workersGetTheCommandsArgumentsWithoutSparkAndWorkers() {
        assertEquals(List.of("--model", "m", "--data", "d", "--json"),
                FinetuneCommand.workerArgs(List.of("finetune", "--model", "m", "--spark", "local[2]", "--data", "d", "--workers=3", "--json")));
        assertEquals(List.of("--model", "m"), FinetuneCommand.workerArgs(List.of("--spark=yarn", "--model", "m", "--workers", "2")));
    }
}
