public import AsyncHTTPClient
public import Core
import Crypto
public import Foundation
import NIOCore
public import NIOHTTP1

/// The OpenAI-compatible Chat Completions transport: one request, the answer read strictly. The AI
/// router (`OpenAIRouteClassifier`) and the daemon's document field model (`documents.model`) both
/// go through it; each decides for itself what to retry and how to judge the answer.
///
/// It lives in Rules because it needs AsyncHTTPClient and Core has no I/O; Inbound cannot import
/// Rules, so the document adapter is built in Daemon, which imports both.
public struct ChatCompletionsClient: Sendable {
    /// Larger answers are not read (a strict-schema answer is a few hundred bytes).
    public static let maxResponseBytes = 1 << 20

    /// What one request came to.
    public enum Attempt: Sendable {
        case answer(status: Int, body: Data, retryAfter: TimeInterval?)
        /// No HTTP answer: connection refused, reset, or the timeout passed (`timedOut`).
        case transport(String, timedOut: Bool)
    }

    /// Up to and including the API version: `https://api.openai.com/v1`.
    public let baseURL: String
    /// Bearer key; nil for local servers that need none.
    let apiKey: String?
    /// Longest one request (answer body included) may take.
    public let timeout: TimeInterval
    let client: HTTPClient

    public init(baseURL: String, apiKey: String?, timeout: TimeInterval, client: HTTPClient = .shared) {
        self.baseURL = baseURL
        self.apiKey = apiKey
        self.timeout = timeout
        self.client = client
    }

    /// POSTs `body` to `{baseURL}/chat/completions`.
    public func send(_ body: Data) async -> Attempt {
        var request = HTTPClientRequest(url: baseURL.trimmingSuffix("/") + "/chat/completions")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let apiKey { request.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await client.execute(request, timeout: .milliseconds(Int64(timeout * 1000)))
            let buffer = try await response.body.collect(upTo: Self.maxResponseBytes)
            return .answer(status: Int(response.status.code), body: Data(buffer.readableBytesView), retryAfter: Self.retryAfter(response.headers))
        } catch {
            // A refused connection is retried by the pool until the deadline and then reported as
            // itself, so only the deadline's own error counts as a timeout.
            return .transport("\(error)", timedOut: (error as? HTTPClientError) == .deadlineExceeded)
        }
    }

    /// `retry-after-ms` (OpenAI) or `Retry-After` in seconds or as an HTTP date; at most a minute.
    public static func retryAfter(_ headers: HTTPHeaders) -> TimeInterval? {
        if let text = headers.first(name: "retry-after-ms"), let ms = Double(text), ms >= 0 { return min(ms / 1000, 60) }
        guard let text = headers.first(name: "retry-after") else { return nil }
        if let seconds = Double(text.trimmingCharacters(in: .whitespaces)), seconds >= 0 { return min(seconds, 60) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        if let date = formatter.date(from: text) { return min(max(0, date.timeIntervalSinceNow), 60) }
        return nil
    }

    // MARK: - Request

    /// A request for one strict-schema JSON answer: the system instructions, the user content
    /// (a string, or an array of content parts), temperature 0.
    public static func requestBody(model: String, system: String, user: JSONValue, schemaName: String, schema: JSONValue, maxTokens: Int) -> Data {
        let body: JSONValue = .object([
            "model": .string(model),
            "temperature": .number(0),
            "max_tokens": .number(Double(maxTokens)),
            "messages": .array([
                .object(["role": .string("system"), "content": .string(system)]),
                .object(["role": .string("user"), "content": user]),
            ]),
            "response_format": .object([
                "type": .string("json_schema"),
                "json_schema": .object(["name": .string(schemaName), "strict": .bool(true), "schema": schema]),
            ]),
        ])
        return body.encoded()
    }

    /// Untrusted text cut to `budget` characters (with a `[truncated]` line when cut) between two
    /// marker lines `LABEL-tag-BEGIN` / `LABEL-tag-END`. The tag is derived from the content, so
    /// text inside cannot close the block with a marker it guessed.
    public static func delimited(_ text: String, label: String, budget: Int) -> (block: String, begin: String, end: String, truncated: Bool) {
        var content = text
        let truncated = content.count > budget
        if truncated { content = String(content.prefix(budget)) + "\n[truncated]" }
        let tag = SHA256.hash(data: Data(content.utf8)).prefix(6).map { String(format: "%02x", $0) }.joined()
        let begin = "\(label)-\(tag)-BEGIN"
        let end = "\(label)-\(tag)-END"
        return ("\(begin)\n\(content)\n\(end)", begin, end, truncated)
    }

    // MARK: - Answer

    /// The first choice of a chat completion, as sent.
    public struct Reply: Sendable {
        public var content: String?
        public var refusal: String?
        public var finishReason: String?
        public var promptTokens: Int?
        public var completionTokens: Int?
    }

    /// The first choice of a Chat Completions response body; nil when it is not one.
    public static func reply(_ data: Data) -> Reply? {
        guard let root = try? JSONValue.parse(data), let choice = root["choices"]?.arrayValue?.first, let message = choice["message"] else { return nil }
        var reply = Reply(content: message["content"]?.stringValue, refusal: message["refusal"]?.stringValue, finishReason: choice["finish_reason"]?.stringValue)
        if case .number(let prompt)? = root["usage"]?["prompt_tokens"], case .number(let completion)? = root["usage"]?["completion_tokens"] {
            reply.promptTokens = Int(prompt)
            reply.completionTokens = Int(completion)
        }
        return reply
    }

    /// The `error` object of an API error response (empty strings where absent).
    public struct APIError: Sendable {
        public var code: String
        public var type: String
        public var message: String
    }

    public static func apiError(_ data: Data) -> APIError {
        let error = (try? JSONValue.parse(data))?["error"]
        return APIError(code: error?["code"]?.stringValue ?? "", type: error?["type"]?.stringValue ?? "", message: error?["message"]?.stringValue ?? "")
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        var text = self
        while text.hasSuffix(suffix) { text.removeLast(suffix.count) }
        return text
    }
}
