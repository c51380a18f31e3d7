// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "astralisd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "astralisd", targets: ["Daemon"]),
        // The document decoders (poppler, tesseract) in their own executable, so the daemon does not
        // map them: the daemon's extraction workers run `astralisd-extract`, found next to `astralisd`.
        .executable(name: "astralisd-extract", targets: ["Extractor"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-async-algorithms.git", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/vapor/multipart-kit.git", from: "4.7.0"),
    ],
    targets: [
        // Domain types, config model and the protocols every backend implements. No I/O.
        .target(
            name: "Core",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // GMime 3 (MIME parsing, RFC 2047/2231, charsets) as a system library; shim.h wraps its macros.
        .systemLibrary(
            name: "CGMime",
            pkgConfig: "gmime-3.0",
            providers: [.apt(["libgmime-3.0-dev"])]
        ),
        // RFC 5322 / MIME parsing into Core.Message (headers, addresses, text body, attachments).
        .target(
            name: "Mail",
            dependencies: [
                "Core", "CGMime",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Store, job queue and blob store implementations (embedded: SQLite + filesystem).
        .target(
            name: "Storage",
            dependencies: [
                "Core",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // libetpan (IMAP) with GnuTLS for certificate checks. Linked through the module map: the
        // Debian libetpan.pc carries build-only flags (-specs=...no-pie-link.specs) swiftc rejects.
        .systemLibrary(name: "CEtpan", providers: [.apt(["libetpan-dev"])]),
        // poppler-glib (PDF text layer and page rendering) with cairo (rasterising pages for OCR, thumbnails).
        .systemLibrary(
            name: "CPoppler",
            pkgConfig: "poppler-glib",
            providers: [.apt(["libpoppler-glib-dev", "libcairo2-dev"])]
        ),
        // Tesseract OCR (C API) and Leptonica (image decoding, deskew, scaling, PNG).
        .systemLibrary(
            name: "CTesseract",
            pkgConfig: "tesseract",
            providers: [.apt(["libtesseract-dev", "libleptonica-dev"])]
        ),
        // Webhook ingress (signatures, limits, idempotency, body decoding), IMAP mailboxes; later documents.
        .target(
            name: "Inbound",
            dependencies: [
                "Core", "Mail", "CEtpan",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MultipartKit", package: "multipart-kit"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
            ]
        ),
        // Document decoding (poppler text layer and rendering, Leptonica + Tesseract OCR, text/HTML/email):
        // the code that reads hostile bytes. Linked only into `astralisd-extract`, never into the daemon.
        .target(
            name: "Extraction",
            dependencies: ["Core", "Mail", "Inbound", "CPoppler", "CTesseract"]
        ),
        // `astralisd-extract`: the sandboxed extraction child and long-lived worker the daemon starts.
        .executableTarget(
            name: "Extractor",
            dependencies: [
                "Core", "Inbound", "Extraction",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Routing: rules files, their evaluator, and the AI router (OpenAI-compatible chat completions).
        .target(
            name: "Rules",
            dependencies: [
                "Core",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // libcurl (SMTP client for replies): the header only. The library is opened with dlopen
        // when the first message is sent (see shim.h), so it is not linked and has no pkg-config
        // link flags; shim.h also wraps the variadic curl_easy_setopt/getinfo.
        .systemLibrary(
            name: "CCurl",
            providers: [.apt(["libcurl4-gnutls-dev"])]
        ),
        // libical 3.0 (iCalendar objects for invitations, iTIP replies, recurrence expansion).
        .systemLibrary(
            name: "CLibical",
            pkgConfig: "libical",
            providers: [.apt(["libical-dev"])]
        ),
        // Carrying out decisions: pipeline items (titles from Mustache templates), SMTP replies, outbound webhooks.
        .target(
            name: "Actions",
            dependencies: [
                "Core", "Mail", "CCurl", "CLibical",
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // The `astralisd` executable: CLI, config loading, service wiring, workers, admin HTTP.
        .executableTarget(
            name: "Daemon",
            dependencies: [
                "Core", "Mail", "Storage", "Inbound", "Rules", "Actions",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "CoreTests", dependencies: ["Core"]),
        .testTarget(
            name: "MailTests",
            dependencies: [
                "Core", "Mail",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            exclude: ["Corpus"]
        ),
        .testTarget(
            name: "StorageTests",
            dependencies: [
                "Core", "Storage",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "InboundTests",
            dependencies: [
                "Core", "Inbound", "Mail", "Storage", "Extraction",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            exclude: ["DocumentCorpus"]
        ),
        .testTarget(
            name: "RulesTests",
            dependencies: [
                "Core", "Rules",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "ActionsTests",
            dependencies: [
                "Core", "Actions", "Storage", "Mail",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
        .testTarget(
            name: "DaemonTests",
            dependencies: [
                "Daemon", "Core", "Storage", "Inbound", "Extraction",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                // The stand-in Chat Completions server shared with RulesTests (StandInModel.swift).
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)

for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    settings.append(.enableUpcomingFeature("InternalImportsByDefault"))
    target.swiftSettings = settings
}
