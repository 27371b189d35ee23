package dev.peft4j.cli;

import dev.peft4j.api.PeftConfig;
import dev.peft4j.api.PeftMethod;
import dev.peft4j.api.UserException;
import dev.peft4j.models.peft.PeftMethods;
import dev.peft4j.models.peft.PeftModel;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Option;

@Command(name = "plugins", mixinStandardHelpOptions = true,
        description = "List the PEFT methods found (class path and --plugins DIR), with the parameters each adds to the model.")
final class PluginsCommand implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin ModelOptions modelOptions = new ModelOptions();

    @Option(names = "--json", description = "Print one JSON object with the results as the last line.")
    boolean json;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PeftMethods methods = modelOptions.methods();
        ModelOptions.Loaded loaded = modelOptions.load();
        long total = loaded.weights().config.parameterCount();
        List<Map<String, Object>> rows = new ArrayList<>();
        if (!json) out.printf("PEFT methods (default configs on %s, %,d parameters):%n", loaded.name(), total);
        for (PeftMethods.Found f : methods.all()) {
            PeftMethod<?> m = f.method();
            long params = trainableParams(m, loaded);
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("name", m.name());
            row.put("version", m.version());
            row.put("peft_type", m.peftType());
            row.put("description", m.description());
            row.put("source", f.source());
            row.put("trainable_params", params);
            row.put("default_config", methods.json().valueToTree(m.defaultConfig()));
            List<String> flags = m.options().stream().map(dev.peft4j.api.MethodOption::flag).toList();
            row.put("flags", flags);
            rows.add(row);
            if (!json) {
                out.printf("  %-14s %-6s %-15s %,12d trainable (%.3f%%)  %s  [%s]%n", m.name(), m.version(), m.peftType(), params,
                        100.0 * params / total, m.description(), f.source());
                if (!flags.isEmpty()) out.printf("  %-14s finetune flags: %s%n", "", String.join(" ", flags));
            }
        }
        if (json) new Report().put("model", loaded.name()).put("model_params", total).put("methods", rows).printJson(out);
        return 0;
    }

    private static <C extends PeftConfig> long trainableParams(PeftMethod<C> m, ModelOptions.Loaded loaded) {
        PeftModel probe = new PeftModel(loaded.weights(), 0);
        try {
            probe.install(m, m.defaultConfig());
        } catch (UserException e) {
            return -1;
        }
        return probe.trainableParameters().stream().mapToLong(p -> p.size()).sum();
    }
}
