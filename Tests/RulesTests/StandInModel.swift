import Core
import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Synchronization
import Testing

// Shared with DaemonTests (document field model) through a symlink, like TestSMTPServer.

/// A local stand-in for an OpenAI-compatible server: answers each request with the next scripted
/// reply (the last one repeats) and records what it was sent.
final class StandInModel: Sendable {
    struct Reply: Sendable {
        var status: Int = 200
        var headers: [String: String] = [:]
        var body: String
        /// Waits this long before answering (timeout tests).
        var delay: Duration? = nil
    }

    struct Received: Sendable {
        var body: JSONValue
        var authorization: String?
    }

    private let script: Mutex<[Reply]>
    let received = Mutex<[Received]>([])

    init(_ replies: [Reply]) {
        script = Mutex(replies)
    }

    var requests: [Received] { received.withLock { $0 } }

    func next() -> Reply {
        script.withLock { replies in
            replies.count > 1 ? replies.removeFirst() : (replies.first ?? Reply(status: 500, body: "{}"))
        }
    }

    /// An assistant message with `content`.
    static func completion(_ content: String, finish: String = "stop", refusal: String? = nil) -> Reply {
        let message: JSONValue = .object(["role": .string("assistant"), "content": refusal == nil ? .string(content) : .null, "refusal": refusal.map { .string($0) } ?? .null])
        let body: JSONValue = .object([
            "id": .string("chatcmpl-1"), "object": .string("chat.completion"), "model": .string("stand-in-1"),
            "choices": .array([.object(["index": .number(0), "message": message, "finish_reason": .string(finish)])]),
            "usage": .object(["prompt_tokens": .number(321), "completion_tokens": .number(17)]),
        ])
        return Reply(body: String(decoding: body.encoded(), as: UTF8.self))
    }

    static func answer(_ destination: String, _ confidence: Double, reasoning: String = "fits") -> Reply {
        completion(#"{"destination": "\#(destination)", "confidence": \#(confidence), "reasoning": "\#(reasoning)"}"#)
    }

    static func error(_ status: Int, code: String = "", type: String = "", headers: [String: String] = [:]) -> Reply {
        Reply(status: status, headers: headers, body: #"{"error": {"message": "scripted \#(status)", "type": "\#(type)", "code": "\#(code)"}}"#)
    }

    /// Runs `body` with the stand-in listening on 127.0.0.1 at a free port.
    func serve<T: Sendable>(_ body: @escaping @Sendable (Int) async throws -> T) async throws -> T {
        let router = Router()
        router.post("/v1/chat/completions") { [self] request, _ -> Response in
            let bytes = try await request.body.collect(upTo: 4 << 20)
            let parsed = (try? JSONValue.parse(Data(bytes.readableBytesView))) ?? .null
            received.withLock { $0.append(Received(body: parsed, authorization: request.headers[.authorization])) }
            let reply = next()
            if let delay = reply.delay { try await Task.sleep(for: delay) }
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            for (name, value) in reply.headers {
                if let field = HTTPField.Name(name) { headers[field] = value }
            }
            return Response(status: .init(code: reply.status), headers: headers, body: .init(byteBuffer: ByteBuffer(string: reply.body)))
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        return try await app.test(.live) { client in
            let port = try #require(client.port)
            return try await body(port)
        }
    }
}

/// Records the waits between retries instead of sleeping.
final class SleepRecorder: Sendable {
    let waits = Mutex<[TimeInterval]>([])
    var recorded: [TimeInterval] { waits.withLock { $0 } }
    var sleep: @Sendable (TimeInterval) async -> Void { { [self] seconds in waits.withLock { $0.append(seconds) } } }
}
