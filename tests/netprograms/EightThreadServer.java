import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/** com.sun.net.httpserver.HttpServer on 8 worker threads; /threads answers
 *  how many distinct workers have served a request so far. */
public class EightThreadServer {
    static void reply(HttpExchange ex, String text) throws IOException {
        byte[] body = text.getBytes();
        ex.sendResponseHeaders(200, body.length);
        ex.getResponseBody().write(body);
        ex.close();
    }

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 64);
        ExecutorService workers = Executors.newFixedThreadPool(8);
        ConcurrentHashMap<String, Boolean> seen = new ConcurrentHashMap<>();
        AtomicInteger hits = new AtomicInteger();
        server.createContext("/", ex -> {
            seen.put(Thread.currentThread().getName(), true);
            String path = ex.getRequestURI().getPath();
            // A little work per request so that concurrent ones overlap.
            long sum = 0;
            for (int i = 0; i < 200000; i++) sum += i % 7;
            reply(ex, "hit " + hits.incrementAndGet() + " " + path + " " + sum + "\n");
        });
        server.createContext("/threads", ex -> reply(ex, seen.size() + "\n"));
        server.setExecutor(workers);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.stop(0);
            workers.shutdown();
            System.out.println("stopped after " + hits.get() + " requests");
        }));
        server.start();
        System.out.println("listening");
    }
}
