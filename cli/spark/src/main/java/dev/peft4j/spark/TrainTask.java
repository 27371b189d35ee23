package dev.peft4j.spark;

import dev.peft4j.cli.scaleout.Worker;
import dev.peft4j.api.Parameter;
import dev.peft4j.models.train.GradientReducer;
import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.BarrierTaskContext;
import scala.collection.Iterator;
import scala.jdk.javaapi.CollectionConverters;
import scala.runtime.AbstractFunction1;

/**
 * One barrier task: rank = its partition. It opens a server socket, exchanges host:port with the others through
 * {@link BarrierTaskContext#allGather} (Spark's rendezvous), joins the {@link RingAllReduce}, and runs
 * {@code finetune} as that rank. Returns one line: {@code rank exitCode bytesSent allReduceCalls} then, for rank 0,
 * what the command printed.
 */
final class TrainTask extends AbstractFunction1<Iterator<Integer>, Iterator<String>> implements Serializable {
    private static final long serialVersionUID = 1L;
    private final List<String> args;
    private final long session;
    private final long timeoutMillis;
    /** For the relaunch test: "RANK:STEP" fails that rank just before that step's all-reduce, in the stage's first attempt. */
    private final String failAt;

    TrainTask(List<String> args, long session, long timeoutMillis, String failAt) {
        this.args = List.copyOf(args);
        this.session = session;
        this.timeoutMillis = timeoutMillis;
        this.failAt = failAt;
    }

    @Override
    public Iterator<String> apply(Iterator<Integer> partition) {
        BarrierTaskContext ctx = BarrierTaskContext.get();
        int rank = ctx.partitionId();
        int n = ctx.getTaskInfos().length;
        boolean relaunch = ctx.stageAttemptNumber() > 0 || ctx.attemptNumber() > 0;
        String host = hostOf(ctx.getTaskInfos()[rank].address());
        try (ServerSocket server = new ServerSocket()) {
            server.bind(new InetSocketAddress(InetAddress.getByName(host), 0), n + 4);
            String[] all = ctx.allGather(host + ":" + server.getLocalPort());
            List<InetSocketAddress> peers = new ArrayList<>();
            for (String a : all) {
                int colon = a.lastIndexOf(':');
                peers.add(new InetSocketAddress(a.substring(0, colon), Integer.parseInt(a.substring(colon + 1))));
            }
            // a new session number per attempt: a stale attempt's connection is refused by the handshake
            long attemptSession = session * 1_000_003L + ctx.stageAttemptNumber() * 1009L + ctx.attemptNumber();
            try (RingAllReduce ring = RingAllReduce.connect(rank, peers, server, attemptSession, timeoutMillis, ctx::isInterrupted)) {
                GradientReducer reducer = ring;
                if (failAt != null && !relaunch && Integer.parseInt(failAt.split(":")[0]) == rank) reducer = new FailAt(ring, Integer.parseInt(failAt.split(":")[1]));
                Worker.Result r = Worker.finetune(args, reducer, relaunch);
                String head = rank + " " + r.exitCode() + " " + ring.bytesSent() + " " + ring.calls();
                String body = rank == 0 || r.exitCode() != 0 ? "\n" + r.out() + "\u0000" + r.err() : "";
                return CollectionConverters.asScala(List.of(head + body).iterator());
            }
        } catch (IOException e) {
            throw new UncheckedIOException("peft4j task " + rank + " of " + n + " (attempt " + ctx.stageAttemptNumber() + "): " + e.getMessage(), e);
        }
    }

    /** The host of an executor's address, "host:port" or "[v6]:port" (or a bare host). */
    static String hostOf(String address) {
        if (address.startsWith("[")) return address.substring(1, address.indexOf(']'));
        int colon = address.lastIndexOf(':');
        return colon >= 0 && address.indexOf(':') == colon ? address.substring(0, colon) : address;
    }

    /** Dies (throws, closing its sockets) at the all-reduce of a given step, as a killed task would. */
    private record FailAt(RingAllReduce ring, int step) implements GradientReducer {
        @Override public int rank() { return ring.rank(); }
        @Override public int size() { return ring.size(); }

        @Override
        public void allReduce(List<Parameter> params, double[] scalars) throws IOException {
            if (ring.calls() + 1 == step) {
                ring.close();
                throw new IllegalStateException("peft4j test: rank " + ring.rank() + " killed at step " + step);
            }
            ring.allReduce(params, scalars);
        }
    }
}
