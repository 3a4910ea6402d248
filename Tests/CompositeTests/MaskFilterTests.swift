import CubeCore
import Testing
@testable import Composite

/// The filter rule written the obvious way, from its definition: a disk is every offset with
/// dx² + dy² ≤ r²; outside the plane is not masked; opening = erosion then dilation, closing
/// = dilation then erosion.
private func naiveStep(_ m: [UInt8], width w: Int, height h: Int, erode: Bool, radius r: Int) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: m.count)
    for y in 0..<h {
        for x in 0..<w {
            var all = true, any = false
            for dy in -r...r {
                for dx in -r...r where dx * dx + dy * dy <= r * r {
                    let xx = x + dx, yy = y + dy
                    let v = xx >= 0 && xx < w && yy >= 0 && yy < h ? m[yy * w + xx] != 0 : false
                    all = all && v
                    any = any || v
                }
            }
            out[y * w + x] = (erode ? all : any) ? 1 : 0
        }
    }
    return out
}

private func naiveFilter(_ m: [UInt8], width w: Int, height h: Int, _ filters: MaskFilters) -> [UInt8] {
    var m = m.map { $0 != 0 ? UInt8(1) : 0 }
    for step in filters.steps {
        let r = step.radius
        switch step.operation {
        case .erosion: m = naiveStep(m, width: w, height: h, erode: true, radius: r)
        case .dilation: m = naiveStep(m, width: w, height: h, erode: false, radius: r)
        case .opening:
            m = naiveStep(naiveStep(m, width: w, height: h, erode: true, radius: r), width: w, height: h, erode: false, radius: r)
        case .closing:
            m = naiveStep(naiveStep(m, width: w, height: h, erode: false, radius: r), width: w, height: h, erode: true, radius: r)
        }
    }
    return m
}

/// Blobby random masks (clouds are coherent), with specks and holes.
private func randomMask(width w: Int, height h: Int, seed: UInt64, density: Double = 0.4) -> [UInt8] {
    var rng = SplitMix64(seed: seed)
    var m = [UInt8](repeating: 0, count: w * h)
    for _ in 0..<max(1, Int(Double(w * h) * density / 12)) {
        let cx = Int.random(in: 0..<w, using: &rng), cy = Int.random(in: 0..<h, using: &rng)
        let r = Int.random(in: 0...3, using: &rng)
        for y in max(0, cy - r)...min(h - 1, cy + r) {
            for x in max(0, cx - r)...min(w - 1, cx + r) where (x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r {
                m[y * w + x] = 1
            }
        }
    }
    for _ in 0..<(w * h / 20) { m[Int.random(in: 0..<(w * h), using: &rng)] ^= 1 }
    return m
}

private func filtered(_ m: [UInt8], width: Int, height: Int, _ filters: MaskFilters) -> [UInt8] {
    var out = m
    let morphology = MaskMorphology()
    out.withUnsafeMutableBufferPointer { _ = morphology.apply(filters, to: $0, width: width, height: height) }
    return out
}

@Suite struct MaskFilterTests {
    @Test func diskIsTheOffsetsWithinTheRadius() throws {
        // A single masked pixel dilated by r is the disk itself: 1, 5, 13, 29, 49, 81, 113 pixels.
        for (r, area) in [(0, 1), (1, 5), (2, 13), (3, 29), (4, 49), (5, 81), (6, 113)] {
            let w = 15, h = 15
            var m = [UInt8](repeating: 0, count: w * h)
            m[7 * w + 7] = 1
            let out = filtered(m, width: w, height: h, MaskFilters([try MaskFilter(.dilation, radius: r)]))
            #expect(out.reduce(0) { $0 + Int($1) } == area, "radius \(r)")
            for y in 0..<h {
                for x in 0..<w {
                    let inside = (x - 7) * (x - 7) + (y - 7) * (y - 7) <= r * r
                    #expect(out[y * w + x] == (inside ? 1 : 0))
                }
            }
        }
    }

    @Test(arguments: MorphologyOperation.allCases) func everyOperationEqualsTheDefinition(op: MorphologyOperation) throws {
        for (seed, (w, h)) in [(1, (23, 17)), (2, (40, 9)), (3, (5, 31)), (4, (1, 12)), (5, (12, 1))].map({ ($0.0, $0.1) }) {
            let m = randomMask(width: w, height: h, seed: UInt64(seed))
            for r in 0...6 {
                let filters = MaskFilters([try MaskFilter(op, radius: r)])
                #expect(filtered(m, width: w, height: h, filters) == naiveFilter(m, width: w, height: h, filters),
                        "\(op) radius \(r), \(w)×\(h), seed \(seed)")
            }
        }
    }

    @Test func listsApplyInOrder() throws {
        let w = 37, h = 29
        let m = randomMask(width: w, height: h, seed: 9, density: 0.6)
        let lists: [[MaskFilter]] = [
            [try MaskFilter(.opening, radius: 2), try MaskFilter(.dilation, radius: 3)],
            [try MaskFilter(.dilation, radius: 3), try MaskFilter(.opening, radius: 2)],
            [try MaskFilter(.closing, radius: 1), try MaskFilter(.erosion, radius: 2), try MaskFilter(.dilation, radius: 6)],
        ]
        var results: [[UInt8]] = []
        for list in lists {
            let filters = MaskFilters(list)
            let got = filtered(m, width: w, height: h, filters)
            #expect(got == naiveFilter(m, width: w, height: h, filters), "\(filters)")
            results.append(got)
        }
        #expect(results[0] != results[1], "the order of the steps matters")
        #expect(MaskFilters(lists[0]).halo == 7 && MaskFilters(lists[2]).halo == 10)
    }

    /// The chunking rule: a window's filtered mask, computed over the window grown by the
    /// halo (clipped to the plane) with outside that counted as not masked, equals the whole
    /// plane's filtered mask on the window's pixels.
    @Test func aWindowGrownByTheHaloEqualsTheWholePlane() throws {
        let w = 64, h = 48
        let m = randomMask(width: w, height: h, seed: 21, density: 0.5)
        let filters = MaskFilters([try MaskFilter(.closing, radius: 2), try MaskFilter(.opening, radius: 3),
                                   try MaskFilter(.dilation, radius: 6)])
        let whole = filtered(m, width: w, height: h, filters)
        let halo = filters.halo
        for (c0, r0, cw, ch) in [(0, 0, 16, 16), (16, 16, 16, 16), (48, 32, 16, 16), (20, 5, 7, 40), (0, 47, 64, 1)] {
            let gc0 = max(0, c0 - halo), gr0 = max(0, r0 - halo)
            let gc1 = min(w, c0 + cw + halo), gr1 = min(h, r0 + ch + halo)
            let gw = gc1 - gc0, gh = gr1 - gr0
            var grown = [UInt8](repeating: 0, count: gw * gh)
            for y in 0..<gh { for x in 0..<gw { grown[y * gw + x] = m[(gr0 + y) * w + gc0 + x] } }
            let out = filtered(grown, width: gw, height: gh, filters)
            for y in 0..<ch {
                for x in 0..<cw {
                    #expect(out[(r0 - gr0 + y) * gw + (c0 - gc0 + x)] == whole[(r0 + y) * w + c0 + x])
                }
            }
        }
    }

    @Test func radiiAreChecked() {
        #expect(throws: CompositeError.self) { try MaskFilter(.erosion, radius: -1) }
        #expect(throws: CompositeError.self) { try MaskFilter(.erosion, radius: MaskFilter.maxRadius + 1) }
        #expect(MaskFilters([]).isEmpty && MaskFilters([try! MaskFilter(.opening, radius: 0)]).isEmpty)
    }

    @Test(arguments: FusionRule.allCases) func maskedPixelsHaveDataAndNoValue(rule: FusionRule) throws {
        // pixel 0: clear in the first scene; 1: cloud in the first, clear in the second;
        // 2: no data (0) in both; 3: cloud in both; 4: no data in the first, cloud in the second;
        // 5: clear class with a zero band (no data) in the first, cloud in the second.
        let builder = try ObservationBuilder(pixelCount: 6, bandCount: 1, fusionRule: rule, tracksMaskedPixels: true)
        let first: [UInt8] = [4, 9, 0, 8, 0, 4], second: [UInt8] = [4, 4, 0, 9, 9, 3]
        try [UInt16]([10, 11, 12, 13, 14, 0]).withUnsafeBufferPointer { b in
            try first.withUnsafeBufferPointer { _ = try builder.addScene(bands: [b], mask: $0, shifts: [0]) }
        }
        try [UInt16]([20, 21, 22, 23, 24, 25]).withUnsafeBufferPointer { b in
            try second.withUnsafeBufferPointer { _ = try builder.addScene(bands: [b], mask: $0, shifts: [0]) }
        }
        var masked = [UInt8](repeating: 9, count: 6)
        let n = masked.withUnsafeMutableBufferPointer { builder.maskedPixels(into: $0) }
        switch rule {
        case .firstData: #expect(masked == [0, 1, 0, 1, 1, 1])   // the first scene with data decides
        case .firstValid: #expect(masked == [0, 0, 0, 1, 1, 1])  // pixel 1 is filled by the second
        }
        #expect(n == masked.reduce(0) { $0 + Int($1) })
    }

    @Test func aWindowIsCopiedWithoutTheDroppedPixels() throws {
        // A 4 × 3 observation; its inner 2 × 2 window at (1, 1) goes into a 4-pixel reducer.
        let builder = try ObservationBuilder(pixelCount: 12, bandCount: 2)
        let b0: [UInt16] = (1...12).map { UInt16($0) }, b1: [UInt16] = (1...12).map { UInt16(100 + $0) }
        let mask = [UInt8](repeating: 4, count: 12)
        try withBufferPointers([b0, b1]) { b in
            try mask.withUnsafeBufferPointer { _ = try builder.addScene(bands: b, mask: $0, shifts: [0, 0]) }
        }
        let reducer = try CompositeReducer(pixelCount: 4, bandCount: 2, maxObservations: 2)
        var drop = [UInt8](repeating: 0, count: 12)
        drop[6] = 1  // (2, 1): the window's second pixel
        let window = PlaneWindow(sourceWidth: 4, col: 1, row: 1, width: 2, height: 2)
        #expect(try drop.withUnsafeBufferPointer { try reducer.add(builder, window: window, dropping: $0) })
        let all = [UInt8](repeating: 1, count: 12)
        #expect(try !all.withUnsafeBufferPointer { try reducer.add(builder, window: window, dropping: $0) },
                "an observation with every pixel dropped is not stored")
        let result = reducer.finish()
        #expect(result.medians[0] == [6, 0, 10, 11])
        #expect(result.medians[1] == [106, 0, 110, 111])
        #expect(result.count == [1, 0, 1, 1])
        #expect(throws: CompositeError.self) {
            try reducer.add(builder, window: PlaneWindow(sourceWidth: 4, col: 3, row: 1, width: 2, height: 2), dropping: nil)
        }
    }
}
