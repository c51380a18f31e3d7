import Synchronization

/// The fixed-size parts of one decision's working memory, laid out in one block: the field
/// slots, the memo of leaf results, the leaf records and rule ends of the compact trace, then
/// room for the per-field buffers (`FactsView.textBuffer`...). Sizes come from the rules file,
/// so a decision needs one block instead of a dozen small allocations.
struct DecisionLayout: Sendable {
    let slotCount: Int
    let memoCount: Int
    /// Upper bound of the leaf results one decision records (most leaves of any organization).
    let recordCapacity: Int
    /// Most rules of any organization.
    let ruleCapacity: Int
    let memoOffset: Int
    let recordOffset: Int
    let ruleOffset: Int
    let bumpOffset: Int
    let blockSize: Int

    /// Room for field buffers before a decision falls back to separate allocations.
    static let bumpBytes = 4096

    init(slotCount: Int, memoCount: Int, recordCapacity: Int, ruleCapacity: Int) {
        self.slotCount = slotCount
        self.memoCount = max(memoCount, 1)
        self.recordCapacity = max(recordCapacity, 1)
        self.ruleCapacity = max(ruleCapacity, 1)
        func aligned(_ offset: Int) -> Int { (offset + 15) & ~15 }
        memoOffset = aligned(MemoryLayout<FactsView.Slot>.stride * max(slotCount, 1))
        recordOffset = aligned(memoOffset + self.memoCount)
        ruleOffset = aligned(recordOffset + MemoryLayout<UInt32>.stride * self.recordCapacity)
        bumpOffset = aligned(ruleOffset + MemoryLayout<UInt32>.stride * self.ruleCapacity)
        blockSize = bumpOffset + Self.bumpBytes
    }
}

/// Blocks of a rules file's `DecisionLayout` kept for the next decisions: a finished decision
/// hands its block back and the next one takes it, so steady evaluation allocates none. A few
/// lock-free places (one per concurrent decision it helps); a block that finds them all taken is
/// freed.
final class DecisionBlocks: Sendable {
    let layout: DecisionLayout
    // Block addresses, 0 when empty (`Atomic` is not copyable: no array of them).
    private let place0 = Atomic<UInt>(0)
    private let place1 = Atomic<UInt>(0)
    private let place2 = Atomic<UInt>(0)
    private let place3 = Atomic<UInt>(0)

    init(layout: DecisionLayout) {
        self.layout = layout
    }

    deinit {
        for index in 0..<4 {
            withPlace(index) { UnsafeMutableRawPointer(bitPattern: $0.exchange(0, ordering: .acquiring))?.deallocate() }
        }
    }

    private func withPlace<Result>(_ index: Int, _ body: (borrowing Atomic<UInt>) -> Result) -> Result {
        switch index {
        case 0: return body(place0)
        case 1: return body(place1)
        case 2: return body(place2)
        default: return body(place3)
        }
    }

    /// A block of `layout.blockSize` bytes (16-byte aligned), uninitialised.
    func take() -> UnsafeMutableRawPointer {
        for index in 0..<4 {
            let address = withPlace(index) { $0.load(ordering: .relaxed) == 0 ? 0 : $0.exchange(0, ordering: .acquiring) }
            if let block = UnsafeMutableRawPointer(bitPattern: address) { return block }
        }
        return .allocate(byteCount: layout.blockSize, alignment: 16)
    }

    /// Hands a block back (its contents deinitialised).
    func give(_ block: UnsafeMutableRawPointer) {
        let address = UInt(bitPattern: block)
        for index in 0..<4 where withPlace(index, { $0.compareExchange(expected: 0, desired: address, ordering: .releasing).exchanged }) { return }
        block.deallocate()
    }
}
