#if os(Linux)
import Foundation
import Glibc
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import SnapHarnessEngine
import SnapHarnessTools

/// `snapharness bench --serve`: what `serve` adds to an invocation, against the floor of the same HTTP stack on the
/// same machine in the same run. The floor is a Hummingbird server in this process that answers the same bytes at
/// once. Everything else is a real `snapharness serve` process (the same binary) on one snapshot, driven over
/// keep-alive HTTP/1.1 connections:
/// - round trips, in alternating blocks: the floor, serve, and serve without freezing idle environments;
/// - serve's own CPU time per invocation (its process's utime + stime; the function's processes are apart);
/// - throughput at several client counts;
/// - a burst of concurrent requests on a cold serve, against a single request on a cold serve (restore and first
///   response through serve).
public struct ServeBenchmark {
    public struct Options: Sendable {
        /// The snapshot to serve, and the snapharness executable to serve it with.
        public var snapshot: String
        public var binary: String
        public var event = "{}"
        /// Round trips per series (in blocks of `block`, alternating).
        public var roundTrips = 600
        public var block = 30
        /// Requests per throughput level.
        public var throughputRequests = 960
        public var clientCounts = [1, 8, 32]
        public var burst = 8
        /// Cold serves measured for the single request and for the burst (the median is reported).
        public var coldRepeats = 3

        public init(snapshot: String, binary: String) {
            self.snapshot = snapshot
            self.binary = binary
        }
    }

    public struct Series: Codable, Sendable {
        public var p50Ms: Double
        public var p99Ms: Double
        public var samples: Int
    }

    public struct Throughput: Codable, Sendable {
        public var clients: Int
        public var invokesPerSecond: Double
        public var p50Ms: Double
        public var p99Ms: Double
    }

    public struct Report: Codable, Sendable {
        public var floor: Series
        public var serve: Series
        public var serveUnfrozen: Series
        /// serve's CPU (user + system) per invocation, over the frozen series' requests.
        public var serveCPUPerInvokeMs: Double
        public var throughput: [Throughput]
        /// A single request on a cold serve (restore + first response), and the slowest of a burst on a cold serve.
        public var coldSingleMs: Double
        public var burstSlowestMs: Double
        public var burst: Int

        public var overheadMs: Double { serve.p50Ms - floor.p50Ms }
        public var freezeCostMs: Double { serve.p50Ms - serveUnfrozen.p50Ms }
        public var burstRatio: Double { burstSlowestMs / coldSingleMs }

        /// Issue 24's targets, each with whether this run met it.
        public var targets: [(met: Bool, text: String)] {
            [(overheadMs <= 0.5, "serve round trip within +0.5 ms of the HTTP floor (+\(Self.ms(overheadMs)))"),
             (serveCPUPerInvokeMs < 0.3, "serve CPU per invoke under 0.3 ms (\(Self.ms(serveCPUPerInvokeMs)))"),
             (burstRatio <= 2, "a burst of \(burst) on a cold serve answered within 2x a single restore's first response "
              + "(\(String(format: "%.2f", burstRatio))x)"),
             (freezeCostMs <= 0.2, "freezing idle environments costs the next request at most 0.2 ms (+\(Self.ms(freezeCostMs)))")]
        }

        static func ms(_ value: Double) -> String { String(format: "%.2f ms", value) }

        public var text: String {
            func row(_ name: String, _ s: Series, _ extra: String = "") -> String {
                name.padding(toLength: 44, withPad: " ", startingAt: 0)
                    + String(format: "p50 %7.3f ms   p99 %7.3f ms   (%d)", s.p50Ms, s.p99Ms, s.samples) + extra
            }
            var lines = ["serve, one keep-alive client, alternating blocks:",
                         row("  HTTP floor (Hummingbird, same bytes)", floor),
                         row("  serve round trip", serve, String(format: "   +%.3f ms over the floor", overheadMs)),
                         row("  serve, idle environments not frozen", serveUnfrozen,
                             String(format: "   freezing: %+.3f ms", freezeCostMs)),
                         String(format: "  serve CPU per invoke                      %.3f ms", serveCPUPerInvokeMs),
                         "throughput (keep-alive clients, each its own environment up to the clients' count):"]
            for t in throughput {
                lines.append(String(format: "  %2d client%@  %8.0f invokes/s   p50 %7.3f ms   p99 %7.3f ms", t.clients,
                                    t.clients == 1 ? " " : "s", t.invokesPerSecond, t.p50Ms, t.p99Ms))
            }
            lines.append(String(format: "cold serve: 1 request %.1f ms (restore + first response); a burst of %d: slowest "
                                + "%.1f ms (%.2fx)", coldSingleMs, burst, burstSlowestMs, burstRatio))
            return lines.joined(separator: "\n")
        }

        public var summaryLine: String {
            String(format: "serve: round trip %.3f ms vs HTTP floor %.3f ms (+%.3f ms), CPU %.3f ms per invoke, "
                   + "%.0f invokes/s with 1 client, burst of %d %.2fx a single cold request, freezing %+.3f ms",
                   serve.p50Ms, floor.p50Ms, overheadMs, serveCPUPerInvokeMs,
                   throughput.first?.invokesPerSecond ?? 0, burst, burstRatio, freezeCostMs)
        }
    }

    public let options: Options
    public init(options: Options) { self.options = options }

    static let path = "/2015-03-31/functions/function/invocations"

    public func run(progress: (String) -> Void = { _ in }) throws -> Report {
        let scratch = try ScratchFolder.make("/tmp/snapharness-bench-serve")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        progress("cold serves: a single request, then a burst of \(options.burst)")
        var singles: [Double] = [], bursts: [Double] = []
        for round in 0..<options.coldRepeats {
            for (label, clients) in [("single", 1), ("burst", options.burst)] {
                let serve = try ServeProcess(options, scratch: scratch, label: "\(label)\(round)")
                defer { serve.stop() }
                let slowest = try serve.timedRequests(clients: clients, options.event).max() ?? 0
                if clients == 1 { singles.append(slowest) } else { bursts.append(slowest) }
            }
        }
        try Interrupts.check()

        progress("round trips: the HTTP floor, serve, serve without freezing")
        let frozen = try ServeProcess(options, scratch: scratch, label: "frozen", maxConcurrency: options.clientCounts.max() ?? 32)
        defer { frozen.stop() }
        let unfrozen = try ServeProcess(options, scratch: scratch, label: "unfrozen", extra: ["--no-freeze"])
        defer { unfrozen.stop() }
        let answer = try HTTPConnection(port: frozen.port).post(Self.path, body: options.event)
        let floor = try FloorServer(body: answer.body)
        defer { floor.stop() }
        var samples: (floor: [Double], frozen: [Double], unfrozen: [Double]) = ([], [], [])
        var cpu = 0.0
        let connections = (floor: try HTTPConnection(port: floor.port), frozen: try HTTPConnection(port: frozen.port),
                           unfrozen: try HTTPConnection(port: unfrozen.port))
        for _ in 0..<3 { // warm-up: every path once, not recorded
            _ = try connections.floor.post(Self.path, body: options.event)
            _ = try connections.frozen.post(Self.path, body: options.event)
            _ = try connections.unfrozen.post(Self.path, body: options.event)
        }
        for _ in 0..<max(1, options.roundTrips / options.block) {
            try Interrupts.check()
            samples.floor += try connections.floor.timed(options.block, Self.path, options.event)
            let before = frozen.cpuSeconds
            samples.frozen += try connections.frozen.timed(options.block, Self.path, options.event)
            cpu += frozen.cpuSeconds - before
            samples.unfrozen += try connections.unfrozen.timed(options.block, Self.path, options.event)
        }

        progress("throughput at \(options.clientCounts.map(String.init).joined(separator: ", ")) clients")
        var throughput: [Throughput] = []
        for clients in options.clientCounts {
            try Interrupts.check()
            _ = try frozen.timedRequests(clients: clients, options.event) // every client's environment restored
            let perClient = max(1, options.throughputRequests / clients)
            let start = Clock.now
            let latencies = try frozen.timedRequests(clients: clients, options.event, each: perClient)
            let seconds = Clock.now - start
            throughput.append(Throughput(clients: clients, invokesPerSecond: Double(latencies.count) / seconds,
                                         p50Ms: Self.percentile(latencies, 0.5), p99Ms: Self.percentile(latencies, 0.99)))
        }
        func series(_ values: [Double]) -> Series {
            Series(p50Ms: Self.percentile(values, 0.5), p99Ms: Self.percentile(values, 0.99), samples: values.count)
        }
        return Report(floor: series(samples.floor), serve: series(samples.frozen), serveUnfrozen: series(samples.unfrozen),
                      serveCPUPerInvokeMs: cpu * 1000 / Double(max(1, samples.frozen.count)), throughput: throughput,
                      coldSingleMs: Self.percentile(singles, 0.5), burstSlowestMs: Self.percentile(bursts, 0.5),
                      burst: options.burst)
    }

    /// `bench`'s own percentiles (`Distribution`, `p` in 0...1 here); 0 without samples.
    static func percentile(_ values: [Double], _ p: Double) -> Double {
        Distribution(values).percentile(p * 100) ?? 0
    }
}

/// A `snapharness serve` child on an ephemeral port, stopped with SIGINT.
final class ServeProcess: @unchecked Sendable {
    let child: ChildProcess
    let port: Int
    let errorFile: String

    init(_ options: ServeBenchmark.Options, scratch: String, label: String, maxConcurrency: Int = 32,
         extra: [String] = []) throws {
        let out = scratch + "/\(label).out"
        errorFile = scratch + "/\(label).err"
        let child = try CommandSpawn.spawn([options.binary, "serve", options.snapshot, "--port", "0", "--max-concurrency",
                                            String(maxConcurrency), "--idle-timeout", "30m"] + extra,
                                           outputFile: out, errorFile: errorFile)
        self.child = child
        // On SIGINT/SIGTERM serve is asked to stop as a user would stop it (it tears its environments and networks
        // down), not killed like a function process.
        Interrupts.untrack(child.pid)
        Interrupts.whenReceived { _ in child.signal(SIGINT) }
        let deadline = Clock.now + 60
        var found: Int?
        while found == nil && Clock.now < deadline && child.poll() == nil && Interrupts.received == nil {
            let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
            if let range = text.range(of: #"http://127\.0\.0\.1:[0-9]+"#, options: .regularExpression) {
                found = Int(text[range].split(separator: ":").last ?? "")
            } else {
                usleep(20_000)
            }
        }
        guard let found else {
            child.signal(SIGINT)
            if child.wait(timeout: 30) == nil { _ = child.terminate() }
            try Interrupts.check()
            let why = (try? String(contentsOfFile: errorFile, encoding: .utf8)) ?? ""
            throw HarnessError.input("snapharness serve did not start: \(why.suffix(2000))")
        }
        port = found
        do { try Interrupts.sleep(1.5) } catch { stop(); throw error } // its pool of networks fills, as a server up for a while
    }

    /// `clients` concurrent keep-alive clients, each sending `each` requests one after another; every latency (ms).
    /// Every client connects before any sends, so a burst is simultaneous.
    func timedRequests(clients: Int, _ event: String, each: Int = 1) throws -> [Double] {
        let connected = DispatchGroup()
        for _ in 0..<clients { connected.enter() }
        let port = self.port
        let results = Concurrently.map(clients) { _ -> Result<[Double], any Error> in
            let connection = Result { try HTTPConnection(port: port) }
            connected.leave()
            connected.wait()
            return connection.flatMap { c in Result { try c.timed(each, ServeBenchmark.path, event) } }
        }
        return try results.flatMap { try $0.get() }
    }

    /// The serve process's CPU time so far, in seconds: every thread's time on a CPU (schedstat's nanoseconds; the
    /// tick counts of /proc/PID/stat are too coarse for a fraction of a millisecond per request).
    var cpuSeconds: Double {
        ProcFile.entries("/proc/\(child.pid)/task").reduce(0.0) { total, task in
            let first = ProcFile.read("/proc/\(child.pid)/task/\(task)/schedstat")?.split(separator: " ").first
            return total + (first.flatMap { Double($0) } ?? 0) / 1e9
        }
    }

    func stop() {
        child.signal(SIGINT)
        if child.wait(timeout: 30) == nil { _ = child.terminate() }
    }
}

/// A blocking HTTP/1.1 keep-alive client: one request at a time on one TCP connection (no proxy, no TLS).
final class HTTPConnection {
    private let fd: Int32
    private var buffer: [UInt8] = []

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket") }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        // A server that stops answering (interrupted, or gone) fails the request instead of hanging the benchmark.
        var limit = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let error = SystemError("connect 127.0.0.1:\(port)")
            Glibc.close(fd)
            throw error
        }
    }

    deinit { Glibc.close(fd) }

    /// POSTs `body` and reads the whole answer; a status other than 200 is an error that says what came.
    func post(_ path: String, body: String) throws -> (status: Int, body: [UInt8]) {
        let request = Array(("POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                             + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)").utf8)
        var sent = 0
        while sent < request.count {
            let n = request[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw SystemError("write") }
            sent += n
        }
        let headerEnd = try readUntilHeaders()
        let head = String(decoding: buffer[..<headerEnd], as: UTF8.self)
        buffer.removeFirst(headerEnd + 4)
        let lines = head.split(separator: "\r\n")
        let status = Int(lines.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
        let length = lines.dropFirst().compactMap { line -> Int? in
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "content-length" else { return nil }
            return Int(parts[1].trimmingCharacters(in: .whitespaces))
        }.first ?? 0
        while buffer.count < length { try fill() }
        let answer = Array(buffer[..<length])
        buffer.removeFirst(length)
        guard status == 200 else {
            throw HarnessError.input("serve answered \(status): \(String(decoding: answer, as: UTF8.self))")
        }
        return (status, answer)
    }

    /// `count` requests one after another; each one's round trip in ms.
    func timed(_ count: Int, _ path: String, _ body: String) throws -> [Double] {
        var latencies: [Double] = []
        latencies.reserveCapacity(count)
        for _ in 0..<count {
            let start = Clock.now
            _ = try post(path, body: body)
            latencies.append((Clock.now - start) * 1000)
        }
        return latencies
    }

    private func readUntilHeaders() throws -> Int {
        while true {
            if buffer.count >= 4 {
                for i in 0...(buffer.count - 4) where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13
                    && buffer[i + 3] == 10 {
                    return i
                }
            }
            try fill()
        }
    }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { throw SystemError("read (the server closed the connection)") }
        buffer += chunk[..<n]
    }
}

/// The HTTP floor: Hummingbird in this process answering every POST with the same body serve sent, at once.
final class FloorServer: @unchecked Sendable {
    private let group: ServiceGroup
    private let finished = DispatchSemaphore(value: 0)
    let port: Int

    init(body: [UInt8]) throws {
        var logger = Logger(label: "snapharness-bench-floor")
        logger.logLevel = .critical
        let router = Router()
        let answer = ByteBuffer(bytes: body)
        router.post("/2015-03-31/functions/:name/invocations") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: answer))
        }
        let bound = LockedBox<Int?>(nil)
        let ready = DispatchSemaphore(value: 0)
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in
                                  bound.value = channel.localAddress?.port
                                  ready.signal()
                              }, logger: logger)
        group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let (group, finished) = (self.group, self.finished)
        Task {
            try? await group.run()
            finished.signal()
        }
        guard ready.wait(timeout: .now() + 30) == .success, let port = bound.value else {
            throw HarnessError.input("the benchmark's HTTP floor server did not start")
        }
        self.port = port
    }

    func stop() {
        let group = self.group
        Task { await group.triggerGracefulShutdown() }
        _ = finished.wait(timeout: .now() + 10)
    }
}

/// A value shared between a NIO callback and the thread that waits for it.
final class LockedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
#endif
