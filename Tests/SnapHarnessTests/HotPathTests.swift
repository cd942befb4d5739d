import Foundation
import Glibc
@testable import SnapHarnessEngine
import Testing

/// serve's per-invocation shortcuts (no String(format:), no Strings split from /proc, no Foundation search per output
/// line) give the answers of the general code they replace.
@Suite struct HotPathTests {
    @Test func millisecondsAreWrittenAsPrintfWritesThem() {
        var values: [Double] = [0, 0.000001, 0.0000049, 0.000005, 0.0000051, 0.000125, 0.001005, 0.0123456, 1.5,
                                0.99999, 12.3456789, 899.999999, 1e9, -0.000125, -0.0021]
        var generator = FuzzTests.SeededRandom(state: 2026) // the same cases on every run, as the fuzz targets
        for _ in 0..<20_000 {
            values.append(Double.random(in: 0..<1000, using: &generator) / Double([1, 10, 1000, 100_000].randomElement(using: &generator)!))
        }
        for seconds in values {
            #expect(LambdaLog.ms(seconds) == String(format: "%.2f ms", seconds * 1000), "\(seconds) s")
        }
    }

    @Test func aStatFieldIsReadFromItsBytesAsFromItsText() throws {
        let own = try #require(KernelFile("/proc/self/stat")?.readBytes())
        let text = String(decoding: own, as: UTF8.self)
        let fields = try #require(ProcFile.statFields(text))
        for index in 1..<fields.count {
            #expect(ProcFile.statNumber(own, field: index) == UInt64(fields[index].trimmingCharacters(in: .whitespacesAndNewlines)), "field \(index) of \(text)")
        }
        // A command name with spaces and parentheses, and the pending-signal field with SIGKILL in it.
        var fake = "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 99 0 0 0 0 0 0 0 0 "
        fake += "\(1 << (SIGKILL - 1)) 0 0 0 0 0 17 1 0 0 0 0 0\n"
        #expect(ProcFile.statNumber(Array(fake.utf8), field: 1) == 1)
        #expect(ProcFile.statNumber(Array(fake.utf8), field: 28) == 1 << (UInt64(SIGKILL) - 1))
        #expect(ProcFile.statNumber(Array(fake.utf8), field: 0) == nil) // "S" is not a number
        #expect(ProcFile.statNumber(Array(fake.utf8), field: 400) == nil)
        #expect(ProcFile.statNumber(Array("no parenthesis".utf8), field: 1) == nil)
    }

    @Test func outputLinesKeepTheirTextAndMarksAreStillFound() {
        let marks = OutputMarks()
        #expect(marks.filter("plain output, no mark") == ("plain output, no mark", false))
        #expect(marks.filter("unicode ✓ \u{1F}") == ("unicode ✓ \u{1F}", false))
        #expect(marks.filter("before\(OutputMarks.prefix)abc") == ("before", true)) // stdout's mark after a print
        #expect(marks.filter("\(OutputMarks.prefix)abc") == (nil, true)) // stderr's
        #expect(marks.wait(for: "abc", count: 2, timeout: 0))
        #expect(marks.filter("\(OutputMarks.exitSignalPrefix)9") == (nil, true)) // the init's report of the runtime's signal
        #expect(marks.runtimeStatus(for: .exited(137)) == .signaled(9))
        #expect(marks.filter("a record separator alone \u{1E} is text") == ("a record separator alone \u{1E} is text", false))
    }
}
