/** Text generation: sampling and the generation loop over the model's KV cache. */
package dev.peft4j.models.generate;
