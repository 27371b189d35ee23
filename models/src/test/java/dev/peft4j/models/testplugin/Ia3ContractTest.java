package dev.peft4j.models.testplugin;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.peft4j.api.PeftConfig;
import dev.peft4j.api.PeftMethod;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.peft.PeftMethodContract;
import dev.peft4j.models.peft.PeftMethods;
import org.junit.jupiter.api.Test;

/**
 * IA³, a method that exists only as a plugin jar the tests build ({@link Ia3Plugin}), passes the contract every
 * method passes; it is found through {@code --plugins DIR}'s discovery, not on the class path.
 */
public class Ia3ContractTest extends PeftMethodContract<PeftConfig> {
    private static final PeftMethods PLUGINS = PeftMethods.discover(Ia3Plugin.dir());

    @Override
    protected PeftMethods discover() {
        return PLUGINS;
    }

    @SuppressWarnings("unchecked")
    @Override
    protected PeftMethod<PeftConfig> method() {
        return (PeftMethod<PeftConfig>) PLUGINS.get("ia3");
    }

    @Override
    protected PeftConfig config(LlamaConfig model) {
        return method().defaultConfig();
    }

    @Test
    void theMethodComesFromThePluginJarAlone() {
        assertThrows(ClassNotFoundException.class, () -> Class.forName(Ia3Plugin.METHOD_CLASS), "IA3 is not on the test class path");
        String loader = method().getClass().getClassLoader().getName();
        assertTrue(loader != null && loader.startsWith("peft4j-plugin:peft4j-ia3.jar"), "loaded by " + loader);
        assertThrows(dev.peft4j.api.UserException.class, () -> PeftMethods.discover(null).get("ia3"));
    }
}
