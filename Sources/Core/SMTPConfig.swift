public import Foundation

/// How an SMTP connection is secured. Credentials and mail only ever travel over TLS, except with
/// `none`, which the configuration accepts only for a loopback host with `allow_insecure`.
public enum SMTPTLSMode: String, Sendable, Equatable, CaseIterable {
    /// TLS from the first byte (smtps, usually port 465).
    case implicit
    /// A plain connection upgraded with STARTTLS before anything else (usually port 587). A server
    /// that does not offer STARTTLS is an error.
    case starttls
    /// No TLS at all: loopback test servers only.
    case none
}

/// The SASL mechanism an account authenticates with.
public enum SMTPAuthMechanism: String, Sendable, Equatable, CaseIterable {
    case plain, login, xoauth2
}

/// At most `maxPerRecipient` automatic replies to one address within `period` (loop and abuse
/// prevention; counted from the store's reply records).
public struct ReplyRateLimit: Sendable, Equatable {
    public var maxPerRecipient: Int
    public var period: TimeInterval

    public init(maxPerRecipient: Int = 3, period: TimeInterval = 86_400) {
        self.maxPerRecipient = maxPerRecipient
        self.period = period
    }
}

/// One outgoing mail account (`smtp_accounts[]`). Replies of an organization go out through the
/// account its `reply_account` names.
public struct SMTPAccountConfig: Sendable, Equatable {
    public var id: String
    public var host: String
    public var port: Int
    public var tls: SMTPTLSMode
    /// PEM file of CA certificates to trust instead of the system store.
    public var caFile: String?
    public var allowInsecure: Bool
    /// nil: the server is used without AUTH (a local relay).
    public var username: String?
    /// The password, or the OAuth bearer token for `xoauth2`; read again on every send.
    public var password: SecretRef?
    public var auth: SMTPAuthMechanism
    /// The address replies come from (`From:` and the envelope sender).
    public var fromAddress: String
    public var fromName: String?
    /// The right-hand side of the Message-IDs we make (`<id@domain>`); also the EHLO name.
    public var messageIDDomain: String
    public var connectTimeout: TimeInterval
    /// Longest one message may take, connection included.
    public var timeout: TimeInterval
    /// Keep connections open between messages (libcurl reuses them); false: one connection per message.
    public var connectionReuse: Bool
    public var rateLimit: ReplyRateLimit

    public init(
        id: String, host: String, port: Int, tls: SMTPTLSMode, caFile: String? = nil, allowInsecure: Bool = false,
        username: String? = nil, password: SecretRef? = nil, auth: SMTPAuthMechanism = .plain, fromAddress: String,
        fromName: String? = nil, messageIDDomain: String, connectTimeout: TimeInterval = 10, timeout: TimeInterval = 60,
        connectionReuse: Bool = true, rateLimit: ReplyRateLimit = ReplyRateLimit()
    ) {
        self.id = id
        self.host = host
        self.port = port
        self.tls = tls
        self.caFile = caFile
        self.allowInsecure = allowInsecure
        self.username = username
        self.password = password
        self.auth = auth
        self.fromAddress = fromAddress
        self.fromName = fromName
        self.messageIDDomain = messageIDDomain
        self.connectTimeout = connectTimeout
        self.timeout = timeout
        self.connectionReuse = connectionReuse
        self.rateLimit = rateLimit
    }
}
