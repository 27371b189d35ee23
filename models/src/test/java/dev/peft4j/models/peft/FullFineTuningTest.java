package dev.peft4j.models.peft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.peft4j.api.PeftMethod;
import dev.peft4j.api.UserException;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaWeights;
import org.junit.jupiter.api.Test;

class FullFineTuningTest extends PeftMethodContract<FullFineTuning.Config> {
    @Override protected PeftMethod<FullFineTuning.Config> method() { return new FullFineTuning(); }
    @Override protected FullFineTuning.Config config(LlamaConfig model) { return new FullFineTuning.Config(); }

    @Test
    void everyBaseTensorTrainsAndItRunsAlone() {
        LlamaWeights w = base();
        PeftModel m = new PeftModel(w, 1);
        m.install(method(), config(model()));
        assertEquals(w.tensors().size(), m.trainableParameters().size());
        assertEquals(w.tensors().size(), m.trainer(1, 4, false).parameters().size());
        var e = assertThrows(UserException.class, () -> m.install("again", method(), config(model())));
        assertEquals("method 'full' runs alone: it cannot be combined with 'full'", e.getMessage());
    }
}
