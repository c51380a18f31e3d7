import Actions
import Testing

@Suite("SSRF guard: address classification")
struct DestinationGuardTests {
    @Test("restricted addresses are refused", arguments: [
        ("127.0.0.1", "loopback"), ("127.255.255.254", "loopback"),
        ("10.0.0.1", "private"), ("10.255.255.255", "private"),
        ("172.16.0.1", "private"), ("172.31.255.255", "private"),
        ("192.168.1.10", "private"),
        ("169.254.169.254", "link-local"), ("169.254.0.1", "link-local"),
        ("100.64.0.1", "CGNAT"), ("100.127.255.255", "CGNAT"),
        ("0.0.0.0", "unspecified"), ("0.1.2.3", "this network"),
        ("224.0.0.1", "multicast"), ("239.255.255.250", "multicast"),
        ("255.255.255.255", "broadcast"), ("240.0.0.1", "reserved"),
        ("192.0.0.8", "IETF"), ("198.18.0.1", "benchmarking"),
        ("::1", "loopback"), ("::", "unspecified"),
        ("fc00::1", "unique local"), ("fd12:3456::1", "unique local"),
        ("fe80::1", "link-local"), ("febf::1", "link-local"), ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "IPv4-mapped loopback"), ("::ffff:10.1.2.3", "IPv4-mapped private"),
        ("::ffff:169.254.169.254", "IPv4-mapped link-local"), ("::ffff:100.64.1.1", "IPv4-mapped shared"),
        ("::127.0.0.1", "IPv4-compatible loopback"), ("::8.8.8.8", "reserved (IPv4-compatible)"),
        ("64:ff9b::a9fe:a9fe", "NAT64 link-local"), ("2002:7f00:1::1", "6to4 loopback"),
        ("2002:c0a8:101::1", "6to4 private"), ("2001:db8::1", "documentation"),
    ])
    func refused(address: String, expected: String) throws {
        let ip = try #require(IPAddress(address))
        let range = DestinationGuard.restrictedRange(ip)
        #expect(range != nil, "\(address) must be refused")
        #expect(range?.contains(expected) == true, "\(address): \(range ?? "nil")")
    }

    @Test("public addresses are allowed", arguments: [
        "8.8.8.8", "1.1.1.1", "93.184.216.34", "172.15.255.255", "172.32.0.1", "192.169.0.1", "100.63.255.255",
        "100.128.0.1", "169.253.255.255", "11.0.0.1", "126.255.255.255", "223.255.255.255", "198.17.255.255",
        "2606:4700:4700::1111", "2001:4860:4860::8888", "::ffff:8.8.8.8", "2002:808:808::1", "64:ff9b::808:808",
    ])
    func allowed(address: String) throws {
        let ip = try #require(IPAddress(address))
        #expect(DestinationGuard.restrictedRange(ip) == nil, "\(address): \(DestinationGuard.restrictedRange(ip) ?? "")")
    }

    @Test func literalsParseAndPrint() throws {
        #expect(IPAddress("[::1]")?.description == "::1")
        #expect(IPAddress("::ffff:127.0.0.1")?.bytes.count == 16)
        #expect(IPAddress("10.0.0.1")?.urlHost == "10.0.0.1")
        #expect(IPAddress("fe80::1")?.urlHost == "[fe80::1]")
        #expect(IPAddress("example.com") == nil)
        #expect(IPAddress("10.0.0.256") == nil)
        #expect(IPAddress(bytes: [1, 2, 3]) == nil)
    }

    @Test("localhost resolves to loopback only, and every address is checked")
    func resolvesLocalhost() async throws {
        let addresses = try await DestinationGuard.resolve("localhost")
        #expect(!addresses.isEmpty)
        for address in addresses {
            #expect(DestinationGuard.restrictedRange(address) == "loopback", "\(address)")
        }
        // Numeric forms the system resolver accepts are classified by the address they mean.
        let decimal = try await DestinationGuard.resolve("2130706433")
        #expect(decimal.map(\.description) == ["127.0.0.1"])
        await #expect(throws: DestinationGuard.ResolutionError.self) {
            _ = try await DestinationGuard.resolve("no-such-host.invalid")
        }
    }
}
