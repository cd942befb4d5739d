#if os(Linux)
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SnapHarnessEngine
import SnapHarnessProtocol

/// Lambda's Invoke API (`POST /2015-03-31/functions/{FunctionName}/invocations`, as boto3's `lambda` client and
/// `aws lambda invoke --endpoint-url` send it; RIE's fixed `function` name for curl users) over an `EnvironmentFleet`,
/// plus `GET /snapharness/environments` for humans and tests.
public struct InvokeAPI: Sendable {
    /// The functions served, by name (a template's are served under their logical ids).
    public let functions: [String: EnvironmentFleet]
    public let region: String
    /// Where `Event` invocations and their failures are reported.
    let note: @Sendable (String) -> Void

    public init(functions: [String: EnvironmentFleet], region: String, note: @escaping @Sendable (String) -> Void) {
        self.functions = functions
        self.region = region
        self.note = note
    }

    public var fleets: [EnvironmentFleet] { functions.keys.sorted().compactMap { functions[$0] } }

    static let executedVersion = "$LATEST"

    /// The Invoke API's own headers.
    enum Header {
        static let invocationType = HTTPField.Name("X-Amz-Invocation-Type")!
        static let clientContext = HTTPField.Name("X-Amz-Client-Context")!
        static let logType = HTTPField.Name("X-Amz-Log-Type")!
        static let logResult = HTTPField.Name("X-Amz-Log-Result")!
        static let executedVersion = HTTPField.Name("X-Amz-Executed-Version")!
        static let functionError = HTTPField.Name("X-Amz-Function-Error")!
        static let errorType = HTTPField.Name("X-Amzn-ErrorType")!
    }

    /// The routes; blocking work goes to `workers`.
    func router(workers: Workers) -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/2015-03-31/functions/:name/invocations") { request, context in
            let name = context.parameters.get("name") ?? ""
            return try await self.invoke(name: name, request: request, workers: workers)
        }
        router.get("/snapharness/environments") { _, _ in
            if self.functions.count == 1, let only = self.fleets.first {
                return Self.json(.ok, try JSONEncoder.sorted.encode(only.status))
            }
            return Self.json(.ok, try JSONEncoder.sorted.encode(["functions": self.functions.mapValues(\.status)]))
        }
        return router
    }

    func invoke(name: String, request: Request, workers: Workers) async throws -> Response {
        let decoded = name.removingPercentEncoding ?? name
        let qualifier = URLComponents(string: request.uri.description)?.queryItems?.first { $0.name == "Qualifier" }?.value
        guard let fleet = fleet(named: decoded, qualifier: qualifier) else {
            return Self.error(.notFound, type: "ResourceNotFoundException",
                              message: "Function not found: arn:aws:lambda:\(region):000000000000:function:\(decoded)"
                                + (qualifier.map { ":" + $0 } ?? ""))
        }
        let input: (event: String, clientContext: String?)
        switch await Self.readInput(request) {
        case .refused(let response): return response
        case .input(let event, let clientContext): input = (event, clientContext)
        }
        let invocationType = request.headers[Header.invocationType] ?? "RequestResponse"
        switch invocationType {
        case "DryRun":
            return Response(status: .noContent, headers: [Header.executedVersion: Self.executedVersion])
        case "Event":
            return queueEvent(input.event, clientContext: input.clientContext, on: fleet, workers: workers)
        case "RequestResponse":
            break
        default:
            return Self.error(.badRequest, type: "InvalidParameterValueException",
                              message: "X-Amz-Invocation-Type must be RequestResponse, Event or DryRun, got \(invocationType)")
        }
        let outcome: Result<(InvocationReport, String), any Error>
        do {
            outcome = .success(try await fleet.invoke(event: input.event, clientContext: input.clientContext, on: workers))
        } catch {
            outcome = .failure(error)
        }
        return try Self.response(to: outcome, tail: request.headers[Header.logType] == "Tail")
    }

    /// A request's event and client context, or the Invoke API's refusal of what it sent.
    enum Input {
        case input(event: String, clientContext: String?)
        case refused(Response)
    }

    /// The body (at most Lambda's request size, valid JSON; empty means `{}`) and `X-Amz-Client-Context` (base64 of a
    /// JSON object, what boto3's ClientContext= sends).
    static func readInput(_ request: Request) async -> Input {
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: PayloadLimits.requestBytes)
        } catch let error as HTTPResponseError where error.status == .contentTooLarge {
            return .refused(Self.error(.contentTooLarge, type: "RequestTooLargeException",
                                       message: "Request must be smaller than \(PayloadLimits.requestBytes) bytes for the Invoke operation"))
        } catch {
            // A body that ends before its Content-Length, or broken chunked framing: the request is malformed.
            return .refused(Self.error(.badRequest, type: "InvalidRequestContentException",
                                       message: "The request body could not be read: \(error)"))
        }
        let bytes = Array(body.readableBytesView)
        let event = bytes.isEmpty ? "{}" : String(decoding: bytes, as: UTF8.self)
        if (try? JSONSyntax.validate(Array(event.utf8))) == nil {
            return .refused(Self.error(.badRequest, type: "InvalidRequestContentException",
                                       message: "Could not parse request body into json: the payload is not valid JSON"))
        }
        guard let encoded = request.headers[Header.clientContext], !encoded.isEmpty else { return .input(event: event, clientContext: nil) }
        guard let data = Data(base64Encoded: encoded), (try? JSONSerialization.jsonObject(with: data)) is [String: Any] else {
            return .refused(Self.error(.badRequest, type: "InvalidRequestContentException",
                                       message: "X-Amz-Client-Context must be a base64-encoded JSON object"))
        }
        return .input(event: event, clientContext: String(decoding: data, as: UTF8.self))
    }

    /// `Event`: 202 at once, the invocation runs in the background (waiting for capacity, as Lambda's queue does).
    func queueEvent(_ event: String, clientContext: String?, on fleet: EnvironmentFleet, workers: Workers) -> Response {
        let note = self.note
        let queued = workers.background {
            do {
                let (report, _) = try await fleet.invoke(event: event, clientContext: clientContext,
                                                         waitForCapacity: true, on: workers)
                if let error = report.error { note("snapharness: Event invocation \(report.requestId) failed: \(error.errorType): \(error.errorMessage)") }
            } catch {
                note("snapharness: an Event invocation was dropped: \(error)")
            }
        }
        guard queued else { return Self.stopping }
        return Response(status: .accepted, headers: [Header.executedVersion: Self.executedVersion])
    }

    /// A `RequestResponse` invocation's answer: the result or the function's error (200), throttling (429), or a
    /// failed restore as Lambda's SnapStart errors.
    static func response(to outcome: Result<(InvocationReport, String), any Error>, tail: Bool) throws -> Response {
        switch outcome {
        case .failure(EnvironmentFleet.Refusal.throttled):
            return Self.error(.tooManyRequests, type: "TooManyRequestsException", message: "Rate Exceeded.",
                              extra: ["Reason": "ConcurrentInvocationLimitExceeded"])
        case .failure(EnvironmentFleet.Refusal.stopping):
            return Self.stopping
        case .failure(let error as LifecycleError):
            // The restore or its after-restore hooks failed: Lambda's SnapStart errors.
            let timedOut = error.errorType == .snapStartTimeoutException
            return Self.error(timedOut ? .requestTimeout : .badRequest,
                              type: (timedOut ? LambdaErrorType.snapStartTimeoutException : .snapStartException).name,
                              message: error.lambdaError.map { "\($0.errorType): \($0.errorMessage)" } ?? error.message)
        case .failure(let error):
            return Self.error(.internalServerError, type: "ServiceException", message: "\(error)")
        case .success(let (report, log)):
            var headers: HTTPFields = [Header.executedVersion: Self.executedVersion,
                                       .contentType: "application/json"]
            if tail { headers[Header.logResult] = Data(log.utf8).base64EncodedString() }
            if let error = report.error {
                headers[Header.functionError] = "Unhandled"
                var object = error
                if object.requestId == nil { object.requestId = report.requestId }
                return Response(status: .ok, headers: headers,
                                body: .init(byteBuffer: ByteBuffer(bytes: try JSONEncoder.sorted.encode(object))))
            }
            let text = report.result?.text ?? "null"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
        }
    }

    /// By the function's name, its ARN (any region or account, as a local endpoint has none), or RIE's `function`
    /// when one function is served.
    /// The function a FunctionName names, in every form Lambda accepts: `name`, `name:QUALIFIER`, a partial ARN
    /// (`ACCOUNT:function:name[:QUALIFIER]`) or a full one (`arn:aws:lambda:REGION:ACCOUNT:function:name[:QUALIFIER]`),
    /// with the qualifier there or in `?Qualifier=`. A snapshot is a published version of the function: `$LATEST`
    /// and version numbers name it; an alias does not exist here.
    func fleet(named name: String, qualifier query: String? = nil) -> EnvironmentFleet? {
        var parts = name.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        if let at = parts.firstIndex(of: "function"), at + 1 < parts.count,
           name.hasPrefix("arn:aws:lambda:") ? at == 5 : at == 1 {
            parts = Array(parts[(at + 1)...])
        }
        guard (1...2).contains(parts.count) else { return nil }
        let qualifier = parts.count == 2 ? parts[1] : query
        if let qualifier, qualifier != "$LATEST", qualifier.isEmpty || !qualifier.allSatisfy(\.isNumber) { return nil }
        if let fleet = functions[parts[0]] { return fleet }
        if parts[0] == "function", functions.count == 1 { return fleets.first }
        return nil
    }

    static var stopping: Response {
        error(.serviceUnavailable, type: "ServiceException", message: "snapharness serve is shutting down")
    }

    /// An error as the Invoke API sends it: the type in `X-Amzn-ErrorType` (where botocore reads the code) and in the
    /// body.
    static func error(_ status: HTTPResponse.Status, type: String, message: String, extra: [String: String] = [:]) -> Response {
        var object = ["Type": "User", "message": message, "__type": type]
        object.merge(extra) { _, new in new }
        let data = (try? JSONEncoder.sorted.encode(object)) ?? Data()
        return Response(status: status, headers: [Header.errorType: type, .contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func json(_ status: HTTPResponse.Status, _ data: Data) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }
}
#endif
