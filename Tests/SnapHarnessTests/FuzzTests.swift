import Foundation
import SnapHarnessProtocol
import Glibc
@testable import SnapHarnessEngine
import Testing

/// Seeded property tests ("fuzz targets") for every parser that reads outside input: the control-channel framing,
/// JSON events and results, the snapshot manifest and --env-file. Each runs a bounded number of cases (and at most
/// a few seconds); a seed that finds a crash is kept below as a regression case. A libFuzzer build
/// (`-sanitize=fuzzer`) would be a second full build of the package in CI; these need none and run in `make test`.
@Suite struct FuzzTests {
    /// SplitMix64: the same seed, the same cases, on every machine.
    struct SeededRandom: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let seeds: [UInt64] = [1, 7, 42, 2026, 0xC0FFEE]
    /// Cases per seed, and a wall-clock cap per test so a slow machine still finishes.
    static let casesPerSeed = 400
    static let secondsPerTest = 8.0

    func forEachCase(_ body: (inout SeededRandom) throws -> Void) rethrows {
        let end = Clock.now + FuzzTests.secondsPerTest
        for seed in FuzzTests.seeds {
            var rng = SeededRandom(state: seed)
            for _ in 0..<FuzzTests.casesPerSeed where Clock.now < end { try body(&rng) }
        }
    }

    func mutate(_ bytes: [UInt8], _ rng: inout SeededRandom) -> [UInt8] {
        var out = bytes
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            switch Int.random(in: 0..<4, using: &rng) {
            case 0 where !out.isEmpty: out[Int.random(in: 0..<out.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            case 1 where !out.isEmpty: out.remove(at: Int.random(in: 0..<out.count, using: &rng))
            case 2: out.insert(Array("{}[]\",:\\-0e.nul\n\r\u{1E}".utf8).randomElement(using: &rng)!,
                               at: Int.random(in: 0...out.count, using: &rng))
            default: out = Array(out.prefix(Int.random(in: 0...out.count, using: &rng)))
            }
        }
        return out
    }

    // MARK: - Control-channel framing

    @Test func framingYieldsTheSameLinesHoweverTheStreamIsCut() throws {
        try forEachCase { rng in
            let bytes = (0..<Int.random(in: 0..<2000, using: &rng)).map { _ in
                Int.random(in: 0..<8, using: &rng) == 0 ? UInt8(ascii: "\n") : UInt8.random(in: 0...255, using: &rng)
            }
            var framer = LineFramer(maxLineBytes: 1 << 20)
            var lines: [[UInt8]] = []
            var offset = 0
            while offset < bytes.count {
                let n = Int.random(in: 1...300, using: &rng)
                framer.append(bytes[offset..<min(offset + n, bytes.count)])
                offset += n
                while let line = try framer.nextLine() { lines.append(line) }
            }
            let expected = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast().map(Array.init)
            #expect(lines == expected)
            #expect(framer.bytesExamined == bytes.count)
            #expect(framer.pendingBytes == bytes.count - (bytes.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0))
        }
    }

    @Test func anEndlessLineIsRefusedNotBuffered() throws {
        var framer = LineFramer(maxLineBytes: 1000)
        framer.append([UInt8](repeating: 65, count: 1001))
        #expect(throws: LineFramer.Failure.lineTooLong(1001)) { try framer.nextLine() }
    }

    // MARK: - JSON events and results

    func randomJSON(_ rng: inout SeededRandom, depth: Int = 0) -> Any {
        switch Int.random(in: 0..<(depth > 3 ? 4 : 6), using: &rng) {
        case 0: return Int.random(in: Int.min...Int.max, using: &rng)
        case 1: return Double.random(in: -1e300...1e300, using: &rng)
        case 2: return String((0..<Int.random(in: 0..<12, using: &rng)).map { _ in
            Character(Unicode.Scalar([0x22, 0x5C, 0x0A, 0x41, 0xE9, 0x2603, 0x1F600, 0x7F].randomElement(using: &rng)!)!) })
        case 3: return [true, false, NSNull()].randomElement(using: &rng)!
        case 4: return (0..<Int.random(in: 0..<5, using: &rng)).map { _ in randomJSON(&rng, depth: depth + 1) }
        default:
            var o: [String: Any] = [:]
            for i in 0..<Int.random(in: 0..<5, using: &rng) { o["k\(i)\u{e9}"] = randomJSON(&rng, depth: depth + 1) }
            return o
        }
    }

    @Test func validJSONIsAcceptedAndBrokenJSONIsRefused() throws {
        try forEachCase { rng in
            let value = [randomJSON(&rng, depth: 1), randomJSON(&rng, depth: 1)]
            let text = Array(try JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed]))
            try JSONSyntax.validate(text)
            // Every strict prefix of an array is unfinished.
            let cut = Int.random(in: 0..<text.count, using: &rng)
            #expect(throws: JSONSyntax.Failure.self) { try JSONSyntax.validate(Array(text.prefix(cut))) }
            // Mutations: accepted or refused with a reason that points into the text, never a crash. (Foundation is
            // no oracle here: it refuses valid JSON such as 1e999 that a Lambda runtime accepts.)
            let mutated = mutate(text, &rng)
            do {
                try JSONSyntax.validate(mutated)
            } catch let failure as JSONSyntax.Failure {
                #expect(failure.offset >= 0 && failure.offset <= mutated.count)
            }
        }
    }

    @Test func knownJSONEdgeCases() throws {
        for good in ["0", "-0.5e+10", "\"\\u00e9\"", "[]", "{}", " {\"a\" : [1, 2.5, null, true]} ", "12345678901234567890123"] {
            #expect(throws: Never.self) { try JSONSyntax.validate(Array(good.utf8)) }
        }
        for bad in ["", "01", "1.", ".5", "-", "[1,]", "{\"a\"}", "{a:1}", "NaN", "\"\u{01}\"", "\"\\x\"", "[1] [2]", "tru",
                    String(repeating: "[", count: 20_000)] {
            #expect(throws: JSONSyntax.Failure.self, "\(bad.prefix(20))") { try JSONSyntax.validate(Array(bad.utf8)) }
        }
        // Deep nesting within the limit is fine and does not recurse.
        let deep = String(repeating: "[", count: 5_000) + String(repeating: "]", count: 5_000)
        #expect(throws: Never.self) { try JSONSyntax.validate(Array(deep.utf8)) }
    }

    @Test func rawResultsSurviveTheReportWriter() throws {
        try forEachCase { rng in
            let value = randomJSON(&rng)
            let text = String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed]), as: UTF8.self)
            var report = InvocationReport(requestId: "r", durationMs: 1, billedDurationMs: 1, status: .success)
            report.result = try RawJSON(validating: text, source: "test")
            let written = String(decoding: try JSONValue.prettyData(report), as: UTF8.self)
            #expect(written.contains("\"result\" : " + text), "\(written)")
        }
    }

    // MARK: - Snapshot manifest

    @Test func aMangledManifestIsAClearErrorNeverACrash() throws {
        let dir = TestEnvironment.scratchDirectory("fuzz-manifest")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let snap = SnapshotDirectory(path: dir + "/snap")
        mkdir(snap.path, 0o700)
        mkdir(snap.imagesPath, 0o700)
        #expect(FileManager.default.createFile(atPath: snap.imagesPath + "/inventory.img", contents: Data([1, 2, 3])))
        chmod(snap.imagesPath + "/inventory.img", 0o600)
        let good = SnapshotManifest(criuVersion: "4.2.1", stdio: StdioKeys(stdin: "pipe:[1]", stdout: "pipe:[2]", stderr: "pipe:[3]"),
                                    imageBytes: 3, dumpSeconds: 0.1,
                                    images: [ImageDigest(name: "inventory.img", bytes: 3, digest: "0")])
        let text = Array(try JSONValue.prettyData(good))
        try forEachCase { rng in
            let mutated = mutate(text, &rng)
            try Data(mutated).write(to: URL(fileURLWithPath: snap.manifestPath))
            chmod(snap.manifestPath, 0o600)
            do {
                _ = try snap.loadManifest()
            } catch let e as SnapshotError {
                #expect(!"\(e)".isEmpty)
            }
        }
    }

    // MARK: - --env-file

    @Test func envFilesParseOrSayWhichLineIsWrong() throws {
        let alphabet = Array("AB_z9=\"' #\r\n\t=export é\u{0}".unicodeScalars)
        try forEachCase { rng in
            let text = String(String.UnicodeScalarView((0..<Int.random(in: 0..<200, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }))
            do {
                let env = try FunctionConfig.parseEnvFile(text, path: "fuzz.env")
                #expect(env.keys.allSatisfy { !$0.isEmpty && !$0.contains("=") && !$0.contains("\r") })
            } catch let e as HarnessError {
                #expect("\(e)".hasPrefix("fuzz.env:"), "\(e)")
            }
            // Generated well-formed files round-trip, with LF or CRLF.
            var expected: [String: String] = [:]
            var lines: [String] = []
            for i in 0..<Int.random(in: 0..<6, using: &rng) {
                let value = String((0..<Int.random(in: 0..<10, using: &rng)).map { _ in "a=b é#".randomElement(using: &rng)! })
                expected["K\(i)"] = value.trimmingCharacters(in: .whitespaces) == value ? value : nil
                if expected["K\(i)"] != nil { lines.append("K\(i)=\(value)") }
            }
            let newline = Bool.random(using: &rng) ? "\r\n" : "\n"
            #expect(try FunctionConfig.parseEnvFile(lines.joined(separator: newline), path: "ok.env") == expected)
        }
    }
}
