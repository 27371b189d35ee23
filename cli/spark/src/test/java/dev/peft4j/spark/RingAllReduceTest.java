package dev.peft4j.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.peft4j.api.Parameter;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/** The ring all-reduce on its own: N threads over loopback, no Spark. */
class RingAllReduceTest {
    /** Parameters with awkward sizes (a segment boundary falls inside a parameter, one parameter is shorter than N). */
    static List<Parameter> params(int rank, int[] sizes) {
        SplittableRandom rnd = new SplittableRandom(1000 + rank);
        List<Parameter> ps = new ArrayList<>();
        for (int i = 0; i < sizes.length; i++) {
            Parameter p = new Parameter("p" + i, new int[]{sizes[i]}, new float[sizes[i]]);
            for (int j = 0; j < sizes[i]; j++) p.grad()[j] = (float) rnd.nextGaussian();
            ps.add(p);
        }
        return ps;
    }

    interface RankBody {
        Object run(RingAllReduce ring) throws Exception;
    }

    static List<Object> onRing(int n, RankBody body) throws Exception {
        return onRing(n, 20_000, body);
    }

    /** Runs {@code body} on each rank of an n-rank ring over loopback (one thread per rank); the results by rank. */
    static List<Object> onRing(int n, int timeoutMillis, RankBody body) throws Exception {
        List<ServerSocket> servers = new ArrayList<>();
        List<InetSocketAddress> peers = new ArrayList<>();
        for (int r = 0; r < n; r++) {
            ServerSocket s = new ServerSocket(0, 8, InetAddress.getLoopbackAddress());
            servers.add(s);
            peers.add(new InetSocketAddress(InetAddress.getLoopbackAddress(), s.getLocalPort()));
        }
        ExecutorService pool = Executors.newFixedThreadPool(n);
        try {
            List<Future<Object>> fs = new ArrayList<>();
            for (int r = 0; r < n; r++) {
                int rank = r;
                fs.add(pool.submit(() -> {
                    try (ServerSocket s = servers.get(rank);
                         RingAllReduce ring = RingAllReduce.connect(rank, peers, s, 77, timeoutMillis, () -> false)) {
                        return body.run(ring);
                    }
                }));
            }
            List<Object> out = new ArrayList<>();
            for (Future<Object> f : fs) out.add(f.get());
            return out;
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void everyRankEndsWithTheSumInTheRingsOrderBitForBit() throws Exception {
        int[] sizes = {1, 1000, 3, 70_001, 2};
        for (int n : new int[]{1, 2, 3, 4}) {
            long floats = java.util.Arrays.stream(sizes).asLongStream().sum();
            List<Object> results = onRing(n, ring -> {
                List<Parameter> ps = params(ring.rank(), sizes);
                double[] scalars = {ring.rank() + 0.5, 10.0 * ring.rank()};
                ring.allReduce(ps, scalars);
                ring.allReduce(List.of(), new double[0]); // a call with nothing to sum keeps the ring in step
                assertEquals(RingAllReduce.bytesSentPerCall(floats, n, ring.rank(), 2) + RingAllReduce.bytesSentPerCall(0, n, ring.rank(), 0),
                        ring.bytesSent(), "bytes sent by rank " + ring.rank());
                return new Object[]{ps, scalars};
            });
            // the expected sum: segment c is added up around the ring starting at rank c
            List<List<Parameter>> inputs = new ArrayList<>();
            for (int r = 0; r < n; r++) inputs.add(params(r, sizes));
            long at = 0;
            for (int i = 0; i < sizes.length; i++) {
                float[] expected = new float[sizes[i]];
                for (int j = 0; j < sizes[i]; j++, at++) {
                    int c = 0;
                    while (at >= RingAllReduce.segEnd(floats, n, c)) c++;
                    float sum = inputs.get(c).get(i).grad()[j];
                    for (int k = 1; k < n; k++) sum = sum + inputs.get((c + k) % n).get(i).grad()[j];
                    expected[j] = sum;
                }
                for (int r = 0; r < n; r++) {
                    @SuppressWarnings("unchecked") List<Parameter> got = (List<Parameter>) ((Object[]) results.get(r))[0];
                    assertArrayEquals(expected, got.get(i).grad(), "n=" + n + " rank " + r + " parameter " + i);
                }
            }
            double s0 = 0, s1 = 0;
            for (int r = 0; r < n; r++) {
                s0 += r + 0.5;
                s1 += 10.0 * r;
            }
            for (int r = 0; r < n; r++) assertArrayEquals(new double[]{s0, s1}, (double[]) ((Object[]) results.get(r))[1]);
            System.out.printf("ring n=%d: %d floats, rank 0 sent %d bytes per call (2(N-1)/N x 4 x floats = %.0f)%n", n, floats,
                    RingAllReduce.bytesSentPerCall(floats, n, 0, 2), 2.0 * (n - 1) / n * 4 * floats);
        }
    }

    @Test
    void aRankThatDiesFailsTheOthersInsteadOfHangingThem() throws Exception {
        int n = 3;
        List<Object> results = onRing(n, ring -> {
            List<Parameter> ps = params(ring.rank(), new int[]{10_000});
            ring.allReduce(ps, new double[1]);
            if (ring.rank() == 1) {
                ring.close(); // dies before the second step
                return "dead";
            }
            long t0 = System.nanoTime();
            IOException e = assertThrows(IOException.class, () -> ring.allReduce(ps, new double[1]));
            return e.getMessage() + " after " + (System.nanoTime() - t0) / 1_000_000 + " ms";
        });
        for (int r = 0; r < n; r++) {
            System.out.println("rank " + r + ": " + results.get(r));
            if (r != 1) assertTrue(results.get(r).toString().startsWith("rank " + r + ":"), results.get(r).toString());
        }
    }

    @Test
    void aHungRankTimesOutAndCancellationIsHeard() throws Exception {
        List<ServerSocket> servers = new ArrayList<>();
        List<InetSocketAddress> peers = new ArrayList<>();
        for (int r = 0; r < 2; r++) {
            ServerSocket s = new ServerSocket(0, 8, InetAddress.getLoopbackAddress());
            servers.add(s);
            peers.add(new InetSocketAddress(InetAddress.getLoopbackAddress(), s.getLocalPort()));
        }
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            Future<RingAllReduce> other = pool.submit(() -> RingAllReduce.connect(1, peers, servers.get(1), 5, 2000, () -> false));
            try (RingAllReduce ring = RingAllReduce.connect(0, peers, servers.get(0), 5, 2000, () -> false); RingAllReduce hung = other.get()) {
                // rank 1 never calls allReduce: rank 0 gives up after the timeout
                IOException e = assertThrows(IOException.class, () -> ring.allReduce(params(0, new int[]{100}), new double[0]));
                assertTrue(e.getMessage().contains("nothing from rank 1 for 2 s"), e.getMessage());
                assertEquals(1, hung.rank());
            }
            boolean[] cancel = {false};
            Future<RingAllReduce> other2 = pool.submit(() -> RingAllReduce.connect(1, peers, servers.get(1), 6, 60_000, () -> false));
            try (RingAllReduce ring = RingAllReduce.connect(0, peers, servers.get(0), 6, 60_000, () -> cancel[0]); RingAllReduce hung = other2.get()) {
                pool.submit(() -> {
                    Thread.sleep(1500);
                    cancel[0] = true;
                    return null;
                });
                IOException e = assertThrows(IOException.class, () -> ring.allReduce(params(0, new int[]{100}), new double[0]));
                assertTrue(e.getMessage().contains("cancelled"), e.getMessage());
                assertEquals(2, hung.size());
            }
        } finally {
            pool.shutdownNow();
            for (ServerSocket s : servers) s.close();
        }
    }
}
