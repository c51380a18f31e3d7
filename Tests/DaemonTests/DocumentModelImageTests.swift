import Core
@testable import Daemon
import Extraction
import Foundation
import Inbound
import Logging
import Testing

/// Images of scanned pages for the document field model (`documents.model.send_images`) against
/// the stand-in Chat Completions server: what is sent, when, and the text-only fallback.
@Suite("document field model: images of scanned pages")
struct DocumentModelImageTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("InboundTests/DocumentImages")

    /// The receipt fixture as the extraction child returns it with page images asked for.
    static func scannedReceipt(maxSide: Int) throws -> DocumentExtraction {
        let webp = try Data(contentsOf: fixtures.appendingPathComponent("receipt.webp"))
        let settings = ExtractionSettings(limits: DocumentsConfig(ocrThreads: 1), pageImages: PageImageSettings(maxImages: 2, maxSidePixels: maxSide, maxBytes: 2 << 20))
        let outcome = DocumentTextExtractor.extract(webp, declaredType: "image/webp", filename: "receipt.webp", settings: settings)
        return try #require(outcome.extraction, "\(outcome.reason ?? "")")
    }

    /// Every model gets its own name: the text-only memory is per process and per endpoint + model.
    static func model(port: Int, sendImages: Bool = true, maxImages: Int = 2, metrics: DaemonMetrics, logs: CapturedLogs = CapturedLogs()) -> OpenAIFieldExtractionModel {
        var config = DocumentModelConfig(baseURL: "http://127.0.0.1:\(port)/v1", model: "stand-in-vision-\(UUID().uuidString.prefix(8))", timeout: 10)
        config.sendImages = sendImages
        config.maxImages = maxImages
        return OpenAIFieldExtractionModel(
            config: config, apiKey: nil, client: ProcessHTTPClient.shared,
            observe: { outcome, seconds in metrics.documentModelCall(outcome: outcome, seconds: seconds) },
            observeImages: { event, count in metrics.documentModelImages(event: event, count: count) }, logger: logs.logger)
    }

    static func content(_ request: StandInModel.Received) -> JSONValue? { request.body["messages"]?.arrayValue?.last?["content"] }

    static func imageParts(_ request: StandInModel.Received) -> [JSONValue] {
        (content(request)?.arrayValue ?? []).filter { $0["type"]?.stringValue == "image_url" }
    }

    @Test("a scanned page goes as an image_url part after the text: a PNG data URL within the size bound", .timeLimit(.minutes(2)))
    func imagePart() async throws {
        let extraction = try Self.scannedReceipt(maxSide: 640)
        let images = try #require(extraction.pageImages)
        #expect(images.count == 1)
        let stand = StandInModel([DocumentModelTests.answer(["total": .number(7.4), "currency": .string("EUR")], kind: "receipt")])
        let metrics = DaemonMetrics()
        let result = try await stand.serve { port in
            await InvoiceExtractor.extract(text: extraction.text, model: Self.model(port: port, metrics: metrics), images: images, logger: Logger(label: "test"))
        }
        #expect(result.modelOutcome == "merged")
        let request = try #require(stand.requests.first)
        #expect(stand.requests.count == 1)
        let parts = try #require(Self.content(request)?.arrayValue, "the user content is a list of parts")
        #expect(parts.count == 2)
        #expect(parts.first?["type"]?.stringValue == "text")
        let text = try #require(parts.first?["text"]?.stringValue)
        #expect(text.hasPrefix("DOCUMENT-") && text.contains("TOTAL 7.40 EUR"))
        #expect(parts.last?["type"]?.stringValue == "image_url")
        let url = try #require(parts.last?["image_url"]?["url"]?.stringValue)
        #expect(url.hasPrefix("data:image/png;base64,"))
        let png = try #require(Data(base64Encoded: String(url.dropFirst("data:image/png;base64,".count))))
        #expect(DocumentType.sniff(png) == .png)
        let header = try #require(DocumentPreflight.imageHeader(png, type: .png))
        // The 900×1100 receipt, its long side brought down to 640.
        #expect(header.height == 640 && abs(header.width - 524) <= 1, "\(header.width)×\(header.height)")
        let system = try #require(request.body["messages"]?.arrayValue?.first?["content"]?.stringValue)
        #expect(system.contains("images of the scanned page 1"))
        let metricsText = DocumentModelTests.metricsText(metrics)
        #expect(metricsText.contains("astralisd_document_model_images_sent_total 1"), "\(metricsText)")
        #expect(!metricsText.contains("astralisd_document_model_image_rejections_total 1"))
    }

    @Test("no image without send_images, none for text documents, at most max_images", .timeLimit(.minutes(2)))
    func whenImagesAreSent() async throws {
        let extraction = try Self.scannedReceipt(maxSide: 320)
        let image = try #require(extraction.pageImages?.first)
        let stand = StandInModel([DocumentModelTests.answer([:], kind: "receipt")])
        let metrics = DaemonMetrics()
        try await stand.serve { port in
            // send_images false: text only, although the child rendered a page.
            _ = await InvoiceExtractor.extract(text: extraction.text, model: Self.model(port: port, sendImages: false, metrics: metrics), images: [image], logger: Logger(label: "test"))
            // A text document: no images come from the child, the content stays one string.
            _ = await InvoiceExtractor.extract(text: DocumentModelTests.text, model: Self.model(port: port, metrics: metrics), images: [], logger: Logger(label: "test"))
            // Three pages, max_images 2: the first two.
            var pages = [image, image, image]
            for index in pages.indices { pages[index].page = index + 1 }
            _ = await InvoiceExtractor.extract(text: extraction.text, model: Self.model(port: port, maxImages: 2, metrics: metrics), images: pages, logger: Logger(label: "test"))
        }
        let requests = stand.requests
        #expect(requests.count == 3)
        #expect(requests.first.flatMap(Self.content)?.stringValue?.contains("TOTAL 7.40 EUR") == true)
        #expect(requests.dropFirst().first.flatMap(Self.content)?.stringValue?.contains("INV-77") == true)
        #expect(requests.last.map(Self.imageParts)?.count == 2)
        let system = requests.last?.body["messages"]?.arrayValue?.first?["content"]?.stringValue ?? ""
        #expect(system.contains("scanned pages 1, 2 of the same document"), "\(system)")
        #expect(DocumentModelTests.metricsText(metrics).contains("astralisd_document_model_images_sent_total 2"))
    }

    @Test("an endpoint that rejects images: once more text only, and text only from then on", .timeLimit(.minutes(2)))
    func rejectedImages() async throws {
        let extraction = try Self.scannedReceipt(maxSide: 320)
        let images = try #require(extraction.pageImages)
        let rejection = StandInModel.Reply(
            status: 400,
            body: #"{"error": {"message": "Invalid content type. image_url is only supported by certain models.", "type": "invalid_request_error", "param": "messages.[1].content.[1].type", "code": null}}"#)
        let stand = StandInModel([rejection, DocumentModelTests.answer(["total": .number(7.4)], kind: "receipt")])
        let metrics = DaemonMetrics()
        let logs = CapturedLogs()
        let (first, second) = try await stand.serve { port in
            let model = Self.model(port: port, metrics: metrics, logs: logs)
            let first = await InvoiceExtractor.extract(text: extraction.text, model: model, images: images, logger: logs.logger)
            // The next document for the same model (a new client, as the daemon builds one per document).
            let again = OpenAIFieldExtractionModel(
                config: model.config, apiKey: nil, client: ProcessHTTPClient.shared,
                observe: { outcome, seconds in metrics.documentModelCall(outcome: outcome, seconds: seconds) },
                observeImages: { event, count in metrics.documentModelImages(event: event, count: count) }, logger: logs.logger)
            let second = await InvoiceExtractor.extract(text: extraction.text, model: again, images: images, logger: logs.logger)
            return (first, second)
        }
        #expect(first.modelOutcome == "merged", "the text-only retry answered")
        #expect(second.modelOutcome == "merged")
        let requests = stand.requests
        #expect(requests.count == 3)
        #expect(requests.map { Self.imageParts($0).count } == [1, 0, 0])
        #expect(requests.dropFirst().allSatisfy { Self.content($0)?.stringValue?.contains("TOTAL 7.40 EUR") == true })
        let metricsText = DocumentModelTests.metricsText(metrics)
        #expect(metricsText.contains("astralisd_document_model_image_rejections_total 1"), "\(metricsText)")
        #expect(metricsText.contains("astralisd_document_model_images_sent_total 1"))
        #expect(metricsText.contains(#"astralisd_document_model_calls_total{outcome="ok"} 2"#))
        #expect(logs.all.components(separatedBy: "rejected page images").count == 2, "logged once: \(logs.all)")
    }

    @Test("a 400 that is not about images is an ordinary http-error: no retry, images stay on", .timeLimit(.minutes(2)))
    func otherBadRequest() async throws {
        let extraction = try Self.scannedReceipt(maxSide: 320)
        let images = try #require(extraction.pageImages)
        let stand = StandInModel([StandInModel.error(400, code: "context_length_exceeded", type: "invalid_request_error"), DocumentModelTests.answer([:], kind: "receipt")])
        let metrics = DaemonMetrics()
        try await stand.serve { port in
            let model = Self.model(port: port, metrics: metrics)
            let failed = await InvoiceExtractor.extract(text: extraction.text, model: model, images: images, logger: Logger(label: "test"))
            #expect(failed.modelOutcome == "failed: http-error: HTTP 400 context_length_exceeded")
            #expect(model.sendsImages)
            _ = await InvoiceExtractor.extract(text: extraction.text, model: model, images: images, logger: Logger(label: "test"))
        }
        #expect(stand.requests.map { Self.imageParts($0).count } == [1, 1])
        #expect(!DocumentModelTests.metricsText(metrics).contains("astralisd_document_model_image_rejections_total 1"))
    }

    @Test("what counts as a rejection of images, and which ones mean the model takes none")
    func rejectionDetection() {
        func rejection(_ status: Int, _ body: String) -> OpenAIFieldExtractionModel.ImageRejection? {
            OpenAIFieldExtractionModel.imageRejection(status: status, body: Data(body.utf8))
        }
        #expect(rejection(400, #"{"error": {"message": "Invalid content type. image_url is only supported by certain models."}}"#) == .unsupported)
        #expect(rejection(400, #"{"error": {"message": "This model does not support vision input", "code": null}}"#) == .unsupported)
        #expect(rejection(400, #"{"object": "error", "message": "Model is not multimodal", "type": "BadRequestError"}"#) == .unsupported)
        #expect(rejection(400, "image input is not supported - hint: you may need to provide the mmproj") == .unsupported)
        #expect(rejection(422, #"{"detail": "Unsupported content part type"}"#) == .unsupported)
        // About these images only: text only for this document, images stay on for the next.
        #expect(rejection(400, #"{"error": {"message": "Image exceeds the maximum size", "code": "image_too_large"}}"#) == .thisRequest)
        #expect(rejection(400, #"{"error": {"message": "You uploaded an unreadable image.", "code": "invalid_image"}}"#) == .thisRequest)
        #expect(rejection(400, #"{"error": {"message": "max_tokens is too large", "code": "invalid_value"}}"#) == nil)
        #expect(rejection(500, #"{"error": {"message": "image decoder crashed"}}"#) == nil, "a server error is not a rejection")
        #expect(rejection(422, #"{"detail": [{"loc": ["body", "temperature"], "msg": "bad", "input": {"type": "image_url"}}]}"#) == nil, "an echoed request is not the error")
    }

    @Test("an image refused as too large: text only for that document, images stay on", .timeLimit(.minutes(2)))
    func refusedImage() async throws {
        let extraction = try Self.scannedReceipt(maxSide: 320)
        let images = try #require(extraction.pageImages)
        let tooLarge = StandInModel.Reply(status: 400, body: #"{"error": {"message": "Image exceeds the maximum size", "type": "invalid_request_error", "code": "image_too_large"}}"#)
        let stand = StandInModel([tooLarge, DocumentModelTests.answer([:], kind: "receipt")])
        let metrics = DaemonMetrics()
        try await stand.serve { port in
            let model = Self.model(port: port, metrics: metrics)
            let first = await InvoiceExtractor.extract(text: extraction.text, model: model, images: images, logger: Logger(label: "test"))
            #expect(first.modelOutcome == "merged")
            #expect(model.sendsImages)
            _ = await InvoiceExtractor.extract(text: extraction.text, model: model, images: images, logger: Logger(label: "test"))
        }
        #expect(stand.requests.map { Self.imageParts($0).count } == [1, 0, 1])
        #expect(DocumentModelTests.metricsText(metrics).contains("astralisd_document_model_image_rejections_total 1"))
    }
}

extension DaemonProcessTests {
    @Suite("documents: page images to the model in the running daemon")
    struct DocumentModelImages {
        @Test("a scanned upload is sent with its image, a text PDF in the same intake without; nothing of the image is stored", .timeLimit(.minutes(3)))
        func imagesInTheDaemon() async throws {
            let stand = StandInModel([DocumentModelTests.answer(["total": .number(7.4)], kind: "receipt")])
            try await stand.serve { port in
                let fixture = try DaemonFixture()
                defer { fixture.cleanUp() }
                let model: [String: Any] = [
                    "base_url": "http://127.0.0.1:\(port)/v1", "model": "stand-in-vision", "timeout_seconds": 10,
                    "send_images": true, "max_images": 1, "image_max_side_pixels": 700,
                ]
                try fixture.writeConfig(fixture.configJSON(extraTopLevel: ["documents": ["model": model, "concurrency": 1, "ocr_threads": 1]]) { organization in
                    var sources = organization["sources"] as? [[String: Any]] ?? []
                    sources[0]["max_body_bytes"] = 1 << 20
                    organization["sources"] = sources
                })
                let daemon = try await fixture.startReady()
                let pdfPath = fixture.root.appendingPathComponent("invoice.pdf").path
                try DocumentFixtures.textPDF(pages: [["Northwind Traders Ltd", "INVOICE", "Invoice No.: INV-77", "Total 120.00 GBP"]]).write(to: URL(fileURLWithPath: pdfPath))
                let scanPath = DocumentModelImageTests.fixtures.appendingPathComponent("receipt.webp").path
                let posted = try await runCommand(
                    try TestTools.curl(),
                    ["-sS", "--max-time", "20", "-F", "name=Ann", "-F", "subject=Papers",
                     "-F", "file=@\(pdfPath);type=application/pdf;filename=invoice.pdf", "-F", "scan=@\(scanPath);type=image/webp;filename=receipt.webp",
                     fixture.webhookBase + "/hooks/\(DaemonFixture.source)"],
                    environment: TestTools.childEnvironment([:]), in: fixture.root, timeout: .seconds(30))
                let accepted = try JSONSerialization.jsonObject(with: Data(posted.stdout.utf8)) as? [String: Any]
                let intakeID = try #require(accepted?["intake_id"] as? String, "\(posted.summary)")
                let notDone = try await fixture.waitUntilDone([intakeID], timeout: .seconds(120))
                #expect(notDone.isEmpty, "\(notDone) log:\n\(daemon.log)")

                let requests = stand.requests
                #expect(requests.count == 2, "\(requests.count) log:\n\(daemon.log)")
                let scanned = requests.filter { !DocumentModelImageTests.imageParts($0).isEmpty }
                #expect(scanned.count == 1)
                let part = try #require(scanned.first.flatMap(DocumentModelImageTests.content)?.arrayValue?.first?["text"]?.stringValue)
                #expect(part.contains("TOTAL 7.40 EUR"), "the image goes with the scan's own text")
                let url = try #require(scanned.first.map(DocumentModelImageTests.imageParts)?.first?["image_url"]?["url"]?.stringValue)
                let png = try #require(Data(base64Encoded: String(url.dropFirst("data:image/png;base64,".count))))
                #expect(DocumentPreflight.imageHeader(png, type: .png).map { max($0.width, $0.height) } == 700)
                let text = requests.filter { DocumentModelImageTests.imageParts($0).isEmpty }
                #expect(text.first.flatMap(DocumentModelImageTests.content)?.stringValue?.contains("INV-77") == true, "the text PDF: content is one string")

                let show = try await fixture.cli(["intake", "show", intakeID])
                #expect(show.exitedCleanly, "\(show.summary)")
                #expect(!show.stdout.contains("pageImages") && !show.stdout.contains("iVBORw0KGgo"), "page images are not stored")
                let report = try #require(try? JSONDecoder().decode(Documents.ShowReport.self, from: Data(show.stdout.utf8)), "\(show.summary)")
                #expect(report.extraction.values.allSatisfy { $0.extraction?.pageImages == nil })
                #expect(report.extraction.values.contains { $0.fields?["model_outcome"]?.stringValue == "merged" })

                let metrics = try await HTTP.request("GET", fixture.adminBase + "/metrics")
                #expect(metrics.body.contains("astralisd_document_model_images_sent_total 1"), "\(metrics.body)")
                try await fixture.stop(daemon)
            }
        }
    }
}
