package dev.peft4j.kernels;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;

/**
 * A backend that runs the training step on an accelerator, found with {@link ServiceLoader}: the TornadoVM backend
 * provides one in builds made with the {@code tornado} profile, and the default build has none. Callers reach it only
 * through this interface and {@link DeviceStepSpec} (JDK types and records of this module), so code built without a
 * backend runs unchanged and a backend is never linked against or called by reflection.
 */
public interface DeviceBackend {
    /** The name {@code --device} uses: {@code tornado}. */
    String name();

    /** Empty when the backend can run in this JVM; otherwise a sentence saying why not (its runtime is missing, no device). */
    Optional<String> unavailableReason();

    /** "backend / platform / device" of the device-th device; IllegalArgumentException naming the range. */
    String describe(int device);

    /**
     * Opens a training step for spec on the device-th device, or (device -1) the step's device form run as plain Java,
     * a check that needs the backend's classes but no device. IllegalArgumentException for a spec the step cannot run,
     * naming what; the caller closes the step.
     */
    DeviceStep openTrainer(DeviceStepSpec spec, int device);

    /**
     * The backend of that name on the class path, or why there is none: the {@link Found} holds either the backend or
     * the reason (this build has none; its provider failed to load, with the error).
     */
    static Found find(String name) {
        List<String> failures = new ArrayList<>();
        ServiceLoader<DeviceBackend> loader = ServiceLoader.load(DeviceBackend.class, DeviceBackend.class.getClassLoader());
        var it = loader.iterator();
        while (true) {
            try {
                if (!it.hasNext()) break;
                DeviceBackend b = it.next();
                if (b.name().equals(name)) return new Found(b, null);
            } catch (ServiceConfigurationError | LinkageError e) {
                failures.add(e.getCause() != null ? e.getCause().toString() : e.toString());
            }
        }
        return new Found(null, failures.isEmpty()
                ? "this peft4j was built without its " + name + " backend"
                : "its backend could not be loaded (" + String.join("; ", failures) + ")");
    }

    /** A backend found by {@link #find}, or (backend null) why none was. */
    record Found(DeviceBackend backend, String whyNot) {}
}
