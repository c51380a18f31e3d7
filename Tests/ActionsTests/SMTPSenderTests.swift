import Actions
import Core
import Foundation
import Mail
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// libcurl's SMTP client against the real aiosmtpd server of scripts/smtp.sh.
@Suite("SMTP sender against a real server", .enabled(if: TestSMTPServer.shouldRun, TestSMTPServer.skipReason), .serialized)
struct SMTPSenderTests {
    static func message(to: String, subject: String = "Re: Order 42") throws -> Data {
        let parent = Message(messageID: "parent-\(UUID().uuidString.prefix(6))@customer.example", subject: "Order 42", from: [MailAddress(address: to)], references: ["root@customer.example"])
        return try ReplyComposer.compose(ReplyComposer.draft(
            replyingTo: parent, from: MailAddress(name: "Acme Support", address: "support@acme.example"), to: MailAddress(address: to),
            subject: subject, text: "Thanks!\n", html: "<p>Thanks!</p>", messageID: ReplyComposer.makeMessageID(domain: "acme.example"), date: Date()))
    }

    static func envelope(_ to: String) -> SMTPEnvelope { SMTPEnvelope(from: "support@acme.example", recipients: [to]) }

    @Test("STARTTLS + AUTH PLAIN: the message arrives byte for byte", arguments: [SMTPAuthMechanism.plain, .login])
    func starttlsAuth(mechanism: SMTPAuthMechanism) async throws {
        let server = try TestSMTPServer.require()
        let sender = SMTPSender(threads: 1)
        let to = TestSMTPServer.recipient()
        let bytes = try Self.message(to: to)
        let receipt = try await sender.send(bytes, envelope: Self.envelope(to), account: server.account(auth: mechanism), secret: server.password)
        #expect(receipt.reply.hasPrefix("250"), "\(receipt.reply)")
        let received = try await server.waitForMessages(to: to)
        try #require(received.count == 1)
        #expect(received[0].raw == bytes, "the server got exactly the composed bytes")
        #expect(received[0].envelope["auth_user"] as? String == server.user)
        #expect(received[0].envelope["tls"] as? Bool == true)
        #expect(received[0].envelope["mail_from"] as? String == "support@acme.example")
        await sender.shutdown()
    }

    @Test("implicit TLS")
    func implicitTLS() async throws {
        let server = try TestSMTPServer.require()
        let sender = SMTPSender(threads: 1)
        let to = TestSMTPServer.recipient()
        _ = try await sender.send(try Self.message(to: to), envelope: Self.envelope(to), account: server.account(tls: .implicit), secret: server.password)
        let received = try await server.waitForMessages(to: to)
        #expect(received.count == 1)
        #expect(received.first?.envelope["tls"] as? Bool == true)
        #expect(received.first?.envelope["auth_user"] as? String == server.user)
        await sender.shutdown()
    }

    @Test("tls none (loopback, allow_insecure) without AUTH")
    func clearText() async throws {
        let server = try TestSMTPServer.require()
        let sender = SMTPSender(threads: 1)
        let to = TestSMTPServer.recipient()
        _ = try await sender.send(try Self.message(to: to), envelope: Self.envelope(to), account: server.account(tls: .none, withAuth: false), secret: nil)
        let received = try await server.waitForMessages(to: to)
        #expect(received.count == 1)
        #expect(received.first?.envelope["tls"] as? Bool == false)
        await sender.shutdown()
    }

    @Test("an untrusted certificate fails before anything is sent")
    func untrustedCertificate() async throws {
        let server = try TestSMTPServer.require()
        let sender = SMTPSender(threads: 1)
        let to = TestSMTPServer.recipient()
        // The system store does not know the test server's self-signed certificate.
        let account = server.account(caFile: .some(nil))
        let error = await #expect(throws: SMTPSendError.self) {
            try await sender.send(try Self.message(to: to), envelope: Self.envelope(to), account: account, secret: server.password)
        }
        if case .connection? = error {} else { Issue.record("expected a connection (TLS) error, got \(String(describing: error))") }
        #expect(error?.certainlyNotDelivered == true)
        #expect(error?.isPermanent == false)
        try await Task.sleep(for: .milliseconds(300))
        #expect(server.received(to: to).isEmpty)
        await sender.shutdown()
    }

    @Test("550 is permanent and carries the server's reply text")
    func rejected() async throws {
        let server = try TestSMTPServer.require()
        let sender = SMTPSender(threads: 1)
        let to = TestSMTPServer.recipient("reject-")
        do {
            _ = try await sender.send(try Self.message(to: to), envelope: Self.envelope(to), account: server.account(), secret: server.password)
            Issue.record("expected a 550")
        } catch let error as SMTPSendError {
            #expect(error.isPermanent)
            #expect(error == .rejected(code: 550, reply: "550 5.1.1 <\(to)>: recipient rejected by the test server"))
        }
        await sender.shutdown()
    }

    @Test("451 is transient and carries the server's reply text")
    func deferred() async throws {
        let server = try TestSMTPServer.require()
        let sender = SMTPSender(threads: 1)
        let to = TestSMTPServer.recipient("defer-")
        do {
            _ = try await sender.send(try Self.message(to: to), envelope: Self.envelope(to), account: server.account(), secret: server.password)
            Issue.record("expected a 451")
        } catch let error as SMTPSendError {
            #expect(!error.isPermanent)
            #expect(error.certainlyNotDelivered)
            #expect(error == .deferred(code: 451, reply: "451 4.3.0 <\(to)>: try again later (test server)"))
        }
        await sender.shutdown()
    }

    @Test("wrong password: 535 is permanent")
    func wrongPassword() async throws {
        let server = try TestSMTPServer.require()
        let sender = SMTPSender(threads: 1)
        let to = TestSMTPServer.recipient()
        do {
            _ = try await sender.send(try Self.message(to: to), envelope: Self.envelope(to), account: server.account(), secret: "wrong")
            Issue.record("expected an authentication failure")
        } catch let error as SMTPSendError {
            guard case .rejected(let code, _) = error else { Issue.record("expected rejected, got \(error)"); return }
            #expect(code == 535)
        }
        await sender.shutdown()
    }

    @Test("server down: a connection error, certainly not delivered")
    func serverDown() async throws {
        let server = try TestSMTPServer.require()
        let sender = SMTPSender(threads: 1)
        var account = server.account()
        account.port = try Self.closedPort()
        do {
            _ = try await sender.send(try Self.message(to: "x@customer.example"), envelope: Self.envelope("x@customer.example"), account: account, secret: server.password)
            Issue.record("expected a connection error")
        } catch let error as SMTPSendError {
            guard case .connection(_, let transmitted) = error else { Issue.record("expected a connection error, got \(error)"); return }
            #expect(!transmitted)
            #expect(error.certainlyNotDelivered)
        }
        await sender.shutdown()
    }

    @Test("connection reuse: one connection for many messages; without reuse one each")
    func reuse() async throws {
        let server = try TestSMTPServer.require()
        for reuse in [true, false] {
            let sender = SMTPSender(threads: 1)
            let before = server.connectionCount()
            let to = TestSMTPServer.recipient()
            var opened = 0
            for _ in 0..<5 {
                opened += try await sender.send(try Self.message(to: to), envelope: Self.envelope(to), account: server.account(reuse: reuse), secret: server.password).newConnections
            }
            let received = try await server.waitForMessages(to: to, count: 5)
            #expect(received.count == 5)
            let connections = Set(received.compactMap { $0.envelope["connection"] as? Int })
            // Other suites use the same server in parallel: the global count only grows by at least ours.
            #expect(server.connectionCount() - before >= (reuse ? 1 : 5), "reuse=\(reuse)")
            #expect(connections.count == (reuse ? 1 : 5), "reuse=\(reuse)")
            #expect(opened == (reuse ? 1 : 5))
            await sender.shutdown()
        }
    }

    /// A loopback port nobody listens on.
    static func closedPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

@Suite("libcurl loaded at run time")
struct CurlLibraryTests {
    @Test("the installed libcurl loads, once, and names its version")
    func loads() throws {
        let curl = try CurlLibrary.shared.get()
        #expect(curl.version.hasPrefix("libcurl/"), "\(curl.version)")
        #expect(try CurlLibrary.shared.get() === curl)
    }

    @Test("a libcurl that is not installed is a clear error naming what was tried and what to install")
    func missing() {
        let result = CurlLibrary.load(["libcurl-astralisd-absent.so.9", "libcurl-astralisd-absent.so.8"])
        guard case .failure(let error) = result else {
            Issue.record("loaded a library that does not exist")
            return
        }
        #expect(error.description.contains("tried libcurl-astralisd-absent.so.9, libcurl-astralisd-absent.so.8"), "\(error)")
        #expect(error.description.contains("cannot open shared object file"), "dlerror's reason: \(error)")
        #expect(error.description.contains("libcurl3-gnutls"), "\(error)")
    }

    @Test("a library without libcurl's functions is refused by name")
    func wrongLibrary() {
        guard case .failure(let error) = CurlLibrary.load(["libz.so.1"]) else {
            Issue.record("libz was taken for libcurl")
            return
        }
        #expect(error.description.contains("libcurl has no symbol curl_global_init"), "\(error)")
    }
}
