/** File formats shared by checkpoints and adapters (safetensors). */
package dev.peft4j.api.io;
