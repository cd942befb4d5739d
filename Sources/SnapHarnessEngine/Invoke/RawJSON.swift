#if os(Linux)
import Foundation
import Synchronization

/// JSON text passed through byte for byte, as Lambda passes events and results: checked to be JSON, never decoded
/// into Doubles and re-encoded (which turned 12345678901234567 into 1.2345678901234568e+16 and `1.0` into `1`).
public struct RawJSON: Codable, Sendable, Equatable, CustomStringConvertible {
    public let text: String

    /// `text` must be one JSON value (RFC 8259); the error names `source` and where the text stops being JSON.
    public init(validating text: String, source: String) throws {
        do { try JSONSyntax.validate(Array(text.utf8)) } catch let e as JSONSyntax.Failure {
            throw HarnessError.input("\(source) is not valid JSON: \(e)")
        }
        self.text = text
    }

    /// Text a function produced, which may not be JSON at all (awslambdaric sends NaN as `NaN`).
    init(unchecked text: String) { self.text = text }

    public var description: String { text }

    public var isValidJSON: Bool { (try? JSONSyntax.validate(Array(text.utf8))) != nil }

    public init(from decoder: Decoder) throws {
        text = try JSONValue(from: decoder).jsonText
    }

    /// Inside `JSONValue.prettyData` the text is spliced in verbatim; elsewhere (and when it is not valid JSON)
    /// it is carried as a string.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        if let splicer = encoder.userInfo[RawJSONSplicer.key] as? RawJSONSplicer, isValidJSON {
            try c.encode(splicer.token(for: text))
        } else {
            try c.encode(text)
        }
    }
}

/// Puts raw JSON texts into a document JSONEncoder writes: each is encoded as a unique placeholder string, then
/// the quoted placeholders are replaced by the texts.
final class RawJSONSplicer: Sendable {
    static let key = CodingUserInfoKey(rawValue: "snapharness.rawJSON")!
    private let nonce = UInt64.random(in: 0...UInt64.max)
    private let texts = Mutex<[String]>([])

    func token(for text: String) -> String {
        let index = texts.withLock { t in t.append(text); return t.count - 1 }
        return "snapharness-raw-\(nonce)-\(index)"
    }

    func splice(_ data: Data) -> Data {
        let all = texts.withLock { $0 }
        guard !all.isEmpty else { return data }
        var text = String(decoding: data, as: UTF8.self)
        for (i, raw) in all.enumerated().reversed() {
            text = text.replacingOccurrences(of: "\"snapharness-raw-\(nonce)-\(i)\"", with: raw)
        }
        return Data(text.utf8)
    }
}

/// A strict RFC 8259 syntax check (no decoding): what the harness needs to refuse a bad event file while passing
/// the good one on unchanged. Iterative, so deeply nested input cannot overflow the stack.
public enum JSONSyntax {
    public struct Failure: Error, CustomStringConvertible, Equatable {
        public let offset: Int
        public let reason: String
        public var description: String { "\(reason) at byte \(offset)" }
    }

    /// Checks `bytes` against JSON's grammar (RFC 8259), UTF-8 included, in one pass and without building values.
    public static func validate(_ bytes: [UInt8]) throws {
        guard String(validating: bytes, as: UTF8.self) != nil else { throw Failure(offset: 0, reason: "not UTF-8 text") }
        var scanner = Scanner(bytes: bytes)
        try scanner.run()
    }

    /// The grammar as a state machine over a stack of open containers; tokens are read by the methods below.
    private struct Scanner {
        let bytes: [UInt8]
        var i = 0
        var n: Int { bytes.count }
        /// Containers still open: true for an object, false for an array.
        var stack: [Bool] = []
        /// What the grammar allows next.
        enum Expect { case value, valueOrClose, key, keyOrClose, colon, commaOrClose }
        var expect = Expect.value

        init(bytes: [UInt8]) { self.bytes = bytes }

        func fail(_ reason: String) -> Failure { Failure(offset: i, reason: reason) }

        mutating func run() throws {
            while true {
                skipSpace()
                guard i < n else {
                    if stack.isEmpty && expect == .commaOrClose { return }
                    throw fail("the text ends too early")
                }
                switch expect {
                case .value, .valueOrClose: try value()
                case .key, .keyOrClose: try key()
                case .colon:
                    guard bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                    i += 1; expect = .value
                case .commaOrClose: try commaOrClose()
                }
            }
        }

        mutating func value() throws {
            let b = bytes[i]
            if expect == .valueOrClose, b == UInt8(ascii: "]") { i += 1; stack.removeLast(); expect = .commaOrClose; return }
            switch b {
            case UInt8(ascii: "{"):
                guard stack.count < 10_000 else { throw fail("nested too deeply") }
                stack.append(true); i += 1; expect = .keyOrClose
            case UInt8(ascii: "["):
                guard stack.count < 10_000 else { throw fail("nested too deeply") }
                stack.append(false); i += 1; expect = .valueOrClose
            case UInt8(ascii: "\""): try string(); expect = .commaOrClose
            case UInt8(ascii: "t"): try literal("true"); expect = .commaOrClose
            case UInt8(ascii: "f"): try literal("false"); expect = .commaOrClose
            case UInt8(ascii: "n"): try literal("null"); expect = .commaOrClose
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try number(); expect = .commaOrClose
            default: throw fail("unexpected character")
            }
        }

        mutating func key() throws {
            let b = bytes[i]
            if expect == .keyOrClose, b == UInt8(ascii: "}") { i += 1; stack.removeLast(); expect = .commaOrClose; return }
            guard b == UInt8(ascii: "\"") else { throw fail("an object key must be a string") }
            try string(); expect = .colon
        }

        mutating func commaOrClose() throws {
            let b = bytes[i]
            guard let inObject = stack.last else { throw fail("extra text after the JSON value") }
            if b == UInt8(ascii: ",") { i += 1; expect = inObject ? .key : .value }
            else if b == UInt8(ascii: inObject ? "}" : "]") { i += 1; stack.removeLast(); expect = .commaOrClose }
            else { throw fail("expected ',' or '\(inObject ? "}" : "]")'") }
        }

        mutating func skipSpace() {
            while i < n, bytes[i] == 0x20 || bytes[i] == 0x09 || bytes[i] == 0x0A || bytes[i] == 0x0D { i += 1 }
        }

        mutating func literal(_ word: String) throws {
            let w = Array(word.utf8)
            guard i + w.count <= n, Array(bytes[i..<(i + w.count)]) == w else { throw fail("unexpected character") }
            i += w.count
        }

        func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
        func isHex(_ b: UInt8) -> Bool { isDigit(b) || (b | 0x20) >= 0x61 && (b | 0x20) <= 0x66 }

        mutating func number() throws {
            if bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard i < n, isDigit(bytes[i]) else { throw fail("a number needs digits") }
            if bytes[i] == UInt8(ascii: "0") { i += 1 } else { while i < n, isDigit(bytes[i]) { i += 1 } }
            if i < n, bytes[i] == UInt8(ascii: ".") {
                i += 1
                guard i < n, isDigit(bytes[i]) else { throw fail("a fraction needs digits") }
                while i < n, isDigit(bytes[i]) { i += 1 }
            }
            if i < n, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
                i += 1
                if i < n, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
                guard i < n, isDigit(bytes[i]) else { throw fail("an exponent needs digits") }
                while i < n, isDigit(bytes[i]) { i += 1 }
            }
        }

        mutating func string() throws {
            i += 1 // opening quote
            while i < n {
                let b = bytes[i]
                if b == UInt8(ascii: "\"") { i += 1; return }
                if b < 0x20 { throw fail("a control character inside a string") }
                if b == UInt8(ascii: "\\") {
                    i += 1
                    guard i < n else { break }
                    switch bytes[i] {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                         UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        i += 1
                    case UInt8(ascii: "u"):
                        i += 1
                        for _ in 0..<4 {
                            guard i < n, isHex(bytes[i]) else { throw fail("a \\u escape needs 4 hex digits") }
                            i += 1
                        }
                    default: throw fail("an unknown escape")
                    }
                    continue
                }
                i += 1
            }
            throw fail("an unterminated string")
        }
    }
}
#endif
