package dev.peft4j.kernels;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Marks the induction variable of a loop whose iterations are independent. TornadoVM maps such
 * loops to device threads (it is told this annotation's name with
 * {@code -Dtornado.load.annotation.parallel=dev.peft4j.kernels.Parallel}); plain Java ignores it.
 */
@Retention(RetentionPolicy.RUNTIME)
@Target({ElementType.LOCAL_VARIABLE, ElementType.TYPE_USE})
public @interface Parallel {
}
