import AsyncHTTPClient
import Foundation
import NIOCore

/// `scripts/webhook-receiver.py` on 127.0.0.1: a Standard Webhooks receiver whose signature check
/// is written independently of astralisd's signer (Python `hmac`, from the specification).
final class WebhookReceiver {
    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

    struct Entry: Decodable, Sendable {
        var path: String
        var id: String
        var timestamp: String
        var valid: Bool
        var status: Int
        var host: String
        var received_at: Double
        var headers: [String: String]
        var body: String?
    }

    struct Unavailable: Error, CustomStringConvertible {
        var description: String
    }

    let process: Process
    let port: Int
    let directory: URL

    var base: String { "http://127.0.0.1:\(port)" }

    /// Starts the receiver; throws (never skips) when python3 or the script is missing.
    init(secret: String = WebhookReceiver.secret) async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let script = root.appendingPathComponent("scripts/webhook-receiver.py").path
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("whrecv-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let portFile = directory.appendingPathComponent("port").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, "--secret", secret, "--port-file", portFile]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        self.process = process
        // Python starts slowly on a loaded machine: allow it a while.
        var port: Int?
        for _ in 0..<600 {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8), let value = Int(text) {
                port = value
                break
            }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        guard let port else {
            process.terminate()
            throw Unavailable(description: "scripts/webhook-receiver.py did not start (python3 missing?)")
        }
        self.port = port
    }

    func stop() {
        if process.isRunning {
            // SIGKILL: the test runner's blocked SIGTERM is inherited by the child.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }

    func log(client: HTTPClient) async throws -> [Entry] {
        let response = try await client.execute(HTTPClientRequest(url: base + "/_log"), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 64 << 20)
        return try JSONDecoder().decode([Entry].self, from: Data(body.readableBytesView))
    }
}
