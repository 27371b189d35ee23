package dev.peft4j.models.peft;

import dev.peft4j.api.Adapter;
import dev.peft4j.api.InstallContext;
import dev.peft4j.api.Parameter;
import dev.peft4j.api.PeftConfig;
import dev.peft4j.api.PeftMethod;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.ArrayList;
import java.util.List;

/**
 * Full fine-tuning as a method like the others: every base tensor becomes trainable, the baseline
 * the parameter-efficient methods are compared against. It runs alone ({@link #exclusive()}).
 */
public final class FullFineTuning implements PeftMethod<FullFineTuning.Config> {

    /** No options: every tensor trains. */
    public record Config(@JsonProperty("peft_type") String peftType) implements PeftConfig {
        public Config {
            if (peftType == null) peftType = "FULL";
        }

        public Config() {
            this("FULL");
        }
    }

    @Override public String name() { return "full"; }
    @Override public String version() { return "1.0"; }
    @Override public String description() { return "full fine-tuning: every base weight trains (the baseline)"; }
    @Override public String peftType() { return "FULL"; }
    @Override public Class<Config> configType() { return Config.class; }
    @Override public Config defaultConfig() { return new Config(); }
    @Override public boolean exclusive() { return true; }

    @Override
    public Adapter install(Config config, InstallContext ctx) {
        List<Parameter> params = new ArrayList<>();
        for (String name : ctx.baseTensorNames()) params.add(ctx.trainBaseTensor(name));
        return new Adapter() {
            @Override public PeftConfig config() { return config; }
            @Override public List<Parameter> parameters() { return params; }
        };
    }
}
