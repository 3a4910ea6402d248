import Composite
import CubeCore
import CubeGrid
import Foundation
import GDALKit

/// Reads scene assets onto target grids: the "read and warp" stage of a chunk worker.
///
/// A worker keeps one reader across jobs so that its caches pay off: opened datasets (COG
/// headers stay in memory), target centres transformed into each source CRS (one exact PROJ
/// pass per target grid and UTM zone), and integer index maps per source lattice (shared by all
/// bands of a tile at one resolution). All caches are bounded (LRU).
///
/// Not thread safe (GDAL datasets and PROJ transforms are not): use one reader per thread.
public final class SceneReader {
    public struct Limits: Sendable {
        public var maxOpenDatasets: Int
        /// Memory for transformed centres (16 bytes per target pixel and source CRS).
        public var maxCentreBytes: Int
        /// Memory for index maps (4 bytes per target pixel and source lattice).
        public var maxIndexMapBytes: Int

        public init(maxOpenDatasets: Int = 32, maxCentreBytes: Int = 256 << 20,
                    maxIndexMapBytes: Int = 256 << 20) {
            self.maxOpenDatasets = maxOpenDatasets
            self.maxCentreBytes = maxCentreBytes
            self.maxIndexMapBytes = maxIndexMapBytes
        }
    }

    public private(set) var stats = ReadStats()

    private var scenes: LRUCache<String, OpenScene>
    private var references = LRUCache<String, SpatialReference>(maxCount: 16)
    private var transforms = LRUCache<TransformKey, CoordinateTransform?>(maxCount: 16)
    /// Catalogue EPSG codes as references, and whether a file CRS (WKT) is that code: a job
    /// checks every asset, and both take PROJ database lookups.
    private var epsgReferences = LRUCache<Int, SpatialReference?>(maxCount: 16)
    private var epsgMatches = LRUCache<EPSGMatchKey, Bool>(maxCount: 64)
    /// Grid mappings, possibly shared with the other read lanes of a worker.
    public let grids: GridCache
    /// Reused window buffer: no allocation per read once it has grown.
    private var scratch: UnsafeMutableRawPointer?
    private var scratchBytes = 0
    /// Reads stored tiles (its buffers are reused from plane to plane).
    private let tiles: TileReader
    /// Datasets opened ahead of this reader, shared with the worker's other lanes.
    private let prefetcher: ScenePrefetcher?
    /// Off: always read through GDAL's RasterIO (the decode floor, and tests comparing both).
    public var readsTiles = true
    /// Off: every target centre is transformed exactly (tests comparing both).
    public var interpolatesCentres = true

    /// `grids`: share one cache between the readers of a worker's lanes (each reader still
    /// needs its own thread). `help`: lets the worker's idle lanes decode this reader's tiles.
    /// `prefetcher`: datasets opened ahead of the lanes.
    public init(limits: Limits = Limits(), grids: GridCache? = nil, help: DecodeHelp? = nil,
                prefetcher: ScenePrefetcher? = nil) {
        GDAL.initialize()
        tiles = TileReader(help: help)
        self.prefetcher = prefetcher
        scenes = LRUCache(maxCount: limits.maxOpenDatasets)
        self.grids = grids ?? GridCache(limits: limits)
    }

    deinit { scratch?.deallocate() }

    /// Drops the opened datasets (e.g. after a network error to force a reopen). The grid
    /// mappings stay: they depend on grids only.
    public func clearCaches() {
        scenes.removeAll()
        transforms.removeAll()
    }

    // MARK: planning

    /// Decides what `href` contributes to `target`: opens the asset (cached), maps the target's
    /// pixel centres into it (cached) and returns the source window to read. Reads no pixels.
    /// `expectedEPSG` (the catalogue's `proj:epsg`) is checked against the file's CRS.
    /// `indexed`: the asset's entry in the cube's header index; the asset is then opened from
    /// it without a request (unless it was found stale before).
    /// `overview`: the overview level to read (0, full resolution, by default; see
    /// `overviewLevel`): the plan maps the target onto that level's own lattice.
    public func plan(href: String, target: GeoBox, resampling: Resampling = .nearest,
                     expectedEPSG: Int? = nil, indexed: IndexedAsset? = nil, overview: Int = 0) throws -> ReadPlan {
        let scene = try openScene(href, indexed: staleHrefs.contains(href) ? nil : indexed?.atLevel(overview),
                                  overview: overview)
        if let expectedEPSG {
            guard let expected = try epsgReference(expectedEPSG) else {
                throw SceneWarpError(.crsMismatch, href: href, "catalogue CRS EPSG:\(expectedEPSG) is unknown")
            }
            guard matches(expected, expectedEPSG, scene) else {
                let actual = scene.reference.epsgCode.map { "EPSG:\($0)" } ?? scene.reference.name
                throw SceneWarpError(.crsMismatch, href: href,
                                     "file CRS \(actual) is not the catalogue's EPSG:\(expectedEPSG)")
            }
        }
        let map = try indexMap(target: target, scene: scene)
        var window = map.window
        if let w = window, resampling != .nearest {
            // Bilinear needs one neighbour; average needs a target pixel's footprint in source
            // pixels, about sqrt(window area / covered target pixels) when downsampling.
            let footprint = (Double(w.pixelCount) / Double(max(1, map.coveredCount))).squareRoot()
            let margin = resampling == .bilinear ? 1 : Int(footprint.rounded(.up)) + 1
            window = w.grown(by: margin, within: scene.grid.width, scene.grid.height)
        }
        let bytes = scene.bytesPerSample
        return ReadPlan(href: href, target: target, resampling: resampling, source: scene.grid,
                        window: window, coveredPixels: map.coveredCount, bytesPerSample: bytes,
                        scene: scene, map: map)
    }

    // MARK: overview levels

    /// The overview level to read `indexed` at for the chunk `chunk` under `rule`:
    /// - `none`, or an asset without levels in the index: 0 (full resolution);
    /// - `level(n)`: n, or the coarsest level the file has;
    /// - `auto`: the coarsest level whose pixel size (the larger side of its pixels,
    ///   `CogHeader.pixelSize`) is at most the target pixel's smaller side, both in the scene's
    ///   CRS at the chunk's centre: the sides are the distances between the images of the
    ///   midpoints of opposite edges of a target pixel (`resolutionX` × `resolutionY`) centred
    ///   on the chunk's centre.
    /// Levels are chosen per chunk, not per strip, so every strip of a chunk reads the same one.
    public func overviewLevel(_ rule: Overviews, chunk: GeoBox, indexed: IndexedAsset?) throws -> Int {
        guard let indexed, indexed.overviewCount > 0 else { return 0 }
        switch rule {
        case .none: return 0
        case .level(let n): return min(max(0, n), indexed.overviewCount)
        case .auto: break
        }
        guard let side = try targetPixelSide(chunk: chunk, indexed: indexed) else { return 0 }
        var chosen = 0
        for n in 1...indexed.overviewCount where indexed.header.pixelSize(level: n) <= side * (1 + 1e-9) {
            chosen = n
        }
        return chosen
    }

    /// The target pixel's smaller side at the chunk's centre in the CRS of `indexed`; nil when
    /// PROJ cannot place it there (the asset is then read at full resolution).
    func targetPixelSide(chunk: GeoBox, indexed: IndexedAsset) throws -> Double? {
        guard let code = indexed.header.epsg, let reference = try epsgReference(code) else { return nil }
        let cx = (Double(chunk.ix0) + Double(chunk.width) / 2) * chunk.resolutionX
        let cy = (Double(chunk.iy0) - Double(chunk.height) / 2) * chunk.resolutionY
        let hx = chunk.resolutionX / 2, hy = chunk.resolutionY / 2
        var points = [(x: cx - hx, y: cy), (x: cx + hx, y: cy), (x: cx, y: cy - hy), (x: cx, y: cy + hy)]
        let key = TransformKey(targetCRS: chunk.crs.definition, sourceCRS: "EPSG:\(code)")
        let exact: CoordinateTransform?
        if let cached = transforms.value(for: key) {
            exact = cached
        } else {
            exact = chunk.crs.reference.isSame(reference) ? nil : try? CoordinateTransform(from: chunk.crs.reference, to: reference)
            if exact == nil, !chunk.crs.reference.isSame(reference) { return nil }
            transforms.insert(exact, for: key)
        }
        if let exact { points = exact.transform(points) }
        guard points.allSatisfy({ $0.x.isFinite && $0.y.isFinite }) else { return nil }
        func distance(_ a: (x: Double, y: Double), _ b: (x: Double, y: Double)) -> Double {
            ((a.x - b.x) * (a.x - b.x) + (a.y - b.y) * (a.y - b.y)).squareRoot()
        }
        return min(distance(points[0], points[1]), distance(points[2], points[3]))
    }

    // MARK: reading

    /// Produces the target-grid plane of `band` (1-based) into `out`
    /// (`plan.target.width * plan.target.height` samples, row-major). 0 where the source does
    /// not cover the target or holds nodata. Nearest reads exactly `plan.window`.
    ///
    /// `needed` (nearest only; one flag per target pixel): only the source blocks holding a
    /// needed pixel are decoded; the other target pixels get 0. The worker passes the pixels
    /// whose mask is valid and not yet filled, so cloudy or already-covered parts of a scene
    /// cost no decoding.
    ///
    /// `domain` (a `.quantise` domain, UInt16 planes): the source's samples (float32, signed
    /// integers) are read as float32 and quantised by `ValueDomain.quantise`.
    public func read<T: WarpSample>(_ plan: ReadPlan, band: Int = 1, into out: UnsafeMutableBufferPointer<T>,
                                    needed: UnsafeBufferPointer<UInt8>? = nil, domain: ValueDomain? = nil) throws {
        precondition(out.count == plan.targetPixels, "output holds \(out.count) samples, target has \(plan.targetPixels)")
        guard let window = plan.window, !plan.isEmpty else {
            out.update(repeating: 0)
            return
        }
        var pixels = window.pixelCount
        switch plan.resampling {
        case .nearest:
            if let domain, domain.conversion == .quantise, T.self == UInt16.self {
                let out16 = UnsafeMutableBufferPointer(start: UnsafeMutableRawPointer(out.baseAddress!).assumingMemoryBound(to: UInt16.self),
                                                       count: out.count)
                try readQuantised(plan, window: window, band: band, domain: domain, into: out16)
            } else {
                pixels = try readNearest(plan, window: window, band: band, into: out, needed: needed)
            }
        case .bilinear, .average:
            if let domain, domain.conversion == .quantise {
                throw SceneWarpError(.read, href: plan.href, "a quantised (\(domain.sourceType.rawValue)) source is read with nearest resampling only")
            }
            try readWarped(plan, band: band, into: out)
        }
        stats.planesRead += 1
        stats.pixelsRead += pixels
        stats.bytesRead += pixels * plan.bytesPerSample
    }

    public func read<T: WarpSample>(_ plan: ReadPlan, band: Int = 1, as type: T.Type = T.self) throws -> [T] {
        try [T](unsafeUninitializedCapacity: plan.targetPixels) { buf, count in
            count = 0
            try read(plan, band: band, into: buf)
            count = plan.targetPixels
        }
    }

    /// Plan and read in one call.
    public func read<T: WarpSample>(href: String, target: GeoBox, resampling: Resampling = .nearest,
                                    band: Int = 1, as type: T.Type = T.self) throws -> [T] {
        try read(plan(href: href, target: target, resampling: resampling), band: band, as: type)
    }

    /// A non-uint16 source (`ValueDomain.conversion == .quantise`): the window through GDAL as
    /// float32, quantised in one contiguous pass, then gathered like any plane.
    private func readQuantised(_ plan: ReadPlan, window: PixelWindow, band: Int, domain: ValueDomain,
                               into out: UnsafeMutableBufferPointer<UInt16>) throws {
        let source = try rasterBand(plan.scene, band)
        var floats = [Float](repeating: 0, count: window.pixelCount)
        do {
            try floats.withUnsafeMutableBufferPointer {
                try source.read(x: window.col, y: window.row, width: window.width, height: window.height, into: $0)
            }
        } catch {
            throw SceneWarpError(.read, href: plan.href, "cannot read band \(band): \(error)", cause: error)
        }
        let samples = scratchBuffer(window.pixelCount, of: UInt16.self)
        floats.withUnsafeBufferPointer { domain.quantise($0, into: samples, noData: source.noDataValue) }
        plan.map.indices.withUnsafeBufferPointer { indices in
            UInt16.gather(window: UnsafeBufferPointer(samples), indices: indices, into: out)
        }
    }

    /// Returns the number of source pixels decoded.
    private func readNearest<T: WarpSample>(_ plan: ReadPlan, window: PixelWindow, band: Int,
                                            into out: UnsafeMutableBufferPointer<T>,
                                            needed: UnsafeBufferPointer<UInt8>?) throws -> Int {
        if readsTiles, let tiled = try tiledBand(plan.scene, band, bytes: MemoryLayout<T>.size) {
            do {
                let groups = blockGroups(plan, width: tiled.layout.blockWidth, height: tiled.layout.blockHeight)
                return try tiles.read(tiled, groups: groups, into: out, needed: needed, prefetch: prefetch,
                                      stats: &stats)
            } catch let error as StaleObject {
                throw markStale(plan, error.description)
            } catch let error as TileDecodeError where plan.scene.indexed != nil && error.isDecodeFailure {
                // Bytes that do not decode with the indexed layout: the object may have been
                // replaced by one of the same size (no ETag to tell). Read a fresh header.
                throw markStale(plan, "a tile does not decode with the indexed layout: \(error)")
            } catch {
                // GDAL reads it the usual way below, and reports the failure in its own words
                // (which is how network errors are told from broken files).
                plan.scene.tiled[band] = .some(nil)
            }
        }
        let source = try rasterBand(plan.scene, band)
        let samples = scratchBuffer(window.pixelCount, of: T.self)
        var decoded = window.pixelCount
        do {
            let rects = needed.map { neededRectangles(plan, window: window, block: source.blockSize, needed: $0) }
            if let rects, rects.partial {
                // memset: a generic update(repeating:) is a witness call per sample here.
                memset(samples.baseAddress!, 0, samples.count * MemoryLayout<T>.stride)
                decoded = 0
                for r in rects.list {
                    try source.read(x: r.col, y: r.row, width: r.width, height: r.height, into: samples,
                                    offset: (r.row - window.row) * window.width + (r.col - window.col), lineStride: window.width)
                    decoded += r.pixelCount
                }
            } else {
                try source.read(x: window.col, y: window.row, width: window.width, height: window.height, into: samples)
            }
        } catch {
            throw SceneWarpError(.read, href: plan.href, "cannot read band \(band): \(error)", cause: error)
        }
        if let noData = source.noDataValue { T.zeroNoData(samples, noData: noData) }
        plan.map.indices.withUnsafeBufferPointer { indices in
            T.gather(window: UnsafeBufferPointer(samples), indices: indices, into: out)
        }
        return decoded
    }

    private func blockGroups(_ plan: ReadPlan, width: Int, height: Int) -> BlockGroups {
        let key = GroupsKey(map: IndexMapKey(target: TargetKey(plan.target), source: plan.source),
                            blockWidth: width, blockHeight: height)
        return grids.groups(key) { BlockGroups(map: plan.map, blockWidth: width, blockHeight: height) }
    }

    /// The parts of `window` to decode: horizontal runs of source blocks (clipped to the
    /// window) that hold at least one needed target pixel. `partial` is false when every
    /// block is needed (one read of the whole window is cheaper).
    private func neededRectangles(_ plan: ReadPlan, window: PixelWindow, block: (width: Int, height: Int),
                                  needed: UnsafeBufferPointer<UInt8>) -> (partial: Bool, list: [PixelWindow]) {
        let bw = max(1, block.width), bh = max(1, block.height)
        let bx0 = window.col / bw, bx1 = (window.col + window.width - 1) / bw
        let by0 = window.row / bh, by1 = (window.row + window.height - 1) / bh
        let nbx = bx1 - bx0 + 1, nby = by1 - by0 + 1
        var flags = [Bool](repeating: false, count: nbx * nby)
        let ww = window.width
        plan.map.indices.withUnsafeBufferPointer { idx in
            for p in 0..<min(idx.count, needed.count) where needed[p] != 0 {
                let k = Int(idx[p])
                if k < 0 { continue }
                let x = window.col + k % ww, y = window.row + k / ww
                flags[(y / bh - by0) * nbx + (x / bw - bx0)] = true
            }
        }
        let neededCount = flags.reduce(0) { $0 + ($1 ? 1 : 0) }
        stats.blocksRead += neededCount
        stats.blocksSkipped += flags.count - neededCount
        if neededCount == flags.count { return (false, []) }
        var list: [PixelWindow] = []
        for by in 0..<nby {
            var bx = 0
            while bx < nbx {
                guard flags[by * nbx + bx] else { bx += 1; continue }
                var end = bx
                while end + 1 < nbx && flags[by * nbx + end + 1] { end += 1 }
                let x0 = max(window.col, (bx0 + bx) * bw), x1 = min(window.col + window.width, (bx0 + end + 1) * bw)
                let y0 = max(window.row, (by0 + by) * bh), y1 = min(window.row + window.height, (by0 + by + 1) * bh)
                list.append(PixelWindow(col: x0, row: y0, width: x1 - x0, height: y1 - y0))
                bx = end + 1
            }
        }
        return (true, list)
    }

    /// Bilinear and average: GDAL's warper with an exact transformer (`-et 0`), no overviews.
    private func readWarped<T: WarpSample>(_ plan: ReadPlan, band: Int, into out: UnsafeMutableBufferPointer<T>) throws {
        let t = plan.target
        let request = WarpRequest(
            targetCRS: t.crs.reference.wkt2, minX: t.left, minY: t.bottom, maxX: t.right, maxY: t.top,
            width: t.width, height: t.height, resampling: plan.resampling == .bilinear ? "bilinear" : "average",
            band: band, fallbackSourceNoData: 0, targetNoData: 0)
        do {
            _ = try rasterBand(plan.scene, band)
            let warped = try plan.scene.dataset().warped(request)
            try warped.band(1).read(x: 0, y: 0, width: t.width, height: t.height, into: out)
        } catch let error as SceneWarpError {
            throw error
        } catch {
            throw SceneWarpError(.read, href: plan.href, "cannot warp band \(band) (\(plan.resampling)): \(error)", cause: error)
        }
    }

    private func rasterBand(_ scene: OpenScene, _ band: Int) throws -> RasterBand {
        let dataset = try scene.dataset()
        do { return try dataset.band(band) } catch {
            throw SceneWarpError(.read, href: scene.href, "no band \(band) (the asset has \(dataset.bandCount))")
        }
    }

    /// The object behind `plan` changed since it was indexed: forget the scene and its index
    /// entry, so the caller's next plan reads a fresh header.
    private func markStale(_ plan: ReadPlan, _ why: String) -> SceneWarpError {
        staleHrefs.insert(plan.href)
        scenes.remove(plan.href)
        scenes.remove(plan.scene.cacheKey)
        stats.staleAssets += 1
        return SceneWarpError(.stale, href: plan.href, why)
    }

    /// Hrefs found stale in this worker: opened by GDAL from now on.
    private var staleHrefs = Set<String>()
    /// Tiles fetched ahead of this reader (shared with the worker's other lanes).
    public var prefetch: TilePrefetch?

    /// Queues the blocks `plan` needs for `needed` (all covered pixels when nil) with the
    /// prefetch, so several planes' tiles travel in one wave. Only indexed http(s) assets read
    /// tile by tile take part; anything else is read on demand as before.
    public func prefetchBlocks(_ plan: ReadPlan, needed: UnsafeBufferPointer<UInt8>?, band: Int = 1) {
        guard let prefetch, readsTiles, !plan.isEmpty, plan.resampling == .nearest,
              let tiled = try? tiledBand(plan.scene, band, bytes: plan.bytesPerSample), let remote = tiled.remote,
              let found = try? tiles.neededBlocks(tiled, groups: blockGroups(plan, width: tiled.layout.blockWidth,
                                                                              height: tiled.layout.blockHeight),
                                                  needed: needed)
        else { return }
        prefetch.request(remote, found.blocks.map { ($0.offset, $0.size) })
    }

    /// The band read tile by tile: from the indexed header, or from GDAL's view of the file.
    private func tiledBand(_ scene: OpenScene, _ band: Int, bytes: Int) throws -> TiledBand? {
        if let known = scene.tiled[band] { return known.flatMap { $0.layout.bytesPerSample == bytes ? $0 : nil } }
        if scene.indexed != nil && band != 1 {
            scene.tiled[band] = .some(nil)
            return nil
        }
        let source = try rasterBand(scene, band)
        return tiles.tiledBand(scene, band, source, bytes: bytes)
    }

    private func scratchBuffer<T>(_ count: Int, of: T.Type) -> UnsafeMutableBufferPointer<T> {
        let bytes = count * MemoryLayout<T>.stride
        if bytes > scratchBytes {
            scratch?.deallocate()
            scratch = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 16)
            scratchBytes = bytes
        }
        // The scratch holds plain integers, so rebinding it between reads of different types is fine.
        return UnsafeMutableBufferPointer(start: scratch!.bindMemory(to: T.self, capacity: count), count: count)
    }

    // MARK: caches

    private func openScene(_ href: String, indexed: IndexedAsset?, overview: Int = 0) throws -> OpenScene {
        let key = OpenScene.cacheKey(href, overview)
        if let scene = scenes.value(for: key) { return scene }
        if let indexed, let scene = try openIndexed(href, indexed) {
            scenes.insert(scene, for: key)
            stats.indexedOpens += 1
            return scene
        }
        let dataset: Dataset
        if overview == 0, let opened = prefetcher?.take(href) {
            dataset = opened
        } else {
            do { dataset = try Dataset(path: gdalPath(forHref: href), options: OpenScene.openOptions(overview)) } catch {
                throw SceneWarpError(.open, href: href, "cannot open: \(error)", cause: error)
            }
        }
        guard dataset.bandCount > 0 else { throw SceneWarpError(.open, href: href, "has no raster bands") }
        guard let gt = dataset.geoTransform else {
            throw SceneWarpError(.notGeoreferenced, href: href, "has no geotransform")
        }
        guard let wkt = dataset.projectionWKT else {
            throw SceneWarpError(.notGeoreferenced, href: href, "has no CRS")
        }
        guard gt.isNorthUp else {
            throw SceneWarpError(.unsupportedGeoreferencing, href: href,
                                 "geotransform \(gt.array) is rotated or not north-up")
        }
        // Window indices are Int32.
        guard dataset.width * dataset.height <= Int(Int32.max) else {
            throw SceneWarpError(.unsupportedGeoreferencing, href: href,
                                 "\(dataset.width)x\(dataset.height) pixels is too large")
        }
        let reference = try spatialReference(wkt, href: href)
        let scene = OpenScene(href: href, dataset: dataset,
                              grid: SourceGrid(crsWKT: wkt, geoTransform: gt, width: dataset.width, height: dataset.height),
                              reference: reference, bytesPerSample: (try? dataset.band(1).bytesPerSample) ?? 2,
                              overview: overview)
        scenes.insert(scene, for: key)
        stats.datasetsOpened += 1
        return scene
    }

    /// A scene from its indexed header: no request, no GDAL. nil when the header describes
    /// something only GDAL reads (other compressions, sample types, CRS without an EPSG code);
    /// the caller then opens the asset the usual way.
    private func openIndexed(_ href: String, _ indexed: IndexedAsset) throws -> OpenScene? {
        let h = indexed.header
        guard let code = h.epsg, let reference = try epsgReference(code),
              let layout = indexed.tileLayout else { return nil }
        let gt = GeoTransform(h.geoTransform[0], h.geoTransform[1], h.geoTransform[2],
                              h.geoTransform[3], h.geoTransform[4], h.geoTransform[5])
        guard gt.isNorthUp, h.width * h.height <= Int(Int32.max) else { return nil }
        // One WKT per EPSG code, so every asset of a zone shares centres and transforms.
        let wkt = try epsgWKT(code)
        let scene = OpenScene(href: href, dataset: nil,
                              grid: SourceGrid(crsWKT: wkt, geoTransform: gt, width: h.width, height: h.height),
                              reference: reference, bytesPerSample: layout.bytesPerSample, indexed: indexed,
                              overview: indexed.level)
        let bytes: TileByteSource
        if let remote = indexed.remote {
            bytes = tiles.remoteSource(remote)
        } else {
            guard let file = try? VSIFile(path: gdalPath(forHref: href)) else { return nil }
            bytes = file
        }
        scene.bytes = bytes
        let offsets = h.blockOffsets, counts = h.blockByteCounts
        scene.tiled[1] = .some(TiledBand(layout: layout, noData: h.noDataIsNaN ? nil : h.noData, bytes: bytes,
                                         remote: indexed.remote) { col, row in
            let i = row * layout.blocksAcross + col
            guard i >= 0, i < offsets.count, i < counts.count, offsets[i] > 0, counts[i] > 0,
                  counts[i] <= UInt64(Int32.max) else { return nil }
            return (offsets[i], Int(counts[i]))
        })
        return scene
    }

    private var wkts: [Int: String] = [:]

    private func epsgWKT(_ code: Int) throws -> String {
        if let known = wkts[code] { return known }
        guard let reference = try epsgReference(code) else {
            throw SceneWarpError(.notGeoreferenced, href: "EPSG:\(code)", "unknown EPSG code")
        }
        let wkt = reference.wkt2
        wkts[code] = wkt
        return wkt
    }

    private func epsgReference(_ code: Int) throws -> SpatialReference? {
        if let known = epsgReferences.value(for: code) { return known }
        let reference = try? SpatialReference.epsg(code)
        epsgReferences.insert(reference, for: code)
        return reference
    }

    private func matches(_ expected: SpatialReference, _ code: Int, _ scene: OpenScene) -> Bool {
        let key = EPSGMatchKey(code: code, wkt: scene.grid.crsWKT)
        if let known = epsgMatches.value(for: key) { return known }
        let same = expected.isSame(scene.reference)
        epsgMatches.insert(same, for: key)
        return same
    }

    private func spatialReference(_ wkt: String, href: String) throws -> SpatialReference {
        if let ref = references.value(for: wkt) { return ref }
        do {
            let ref = try SpatialReference(wkt)
            references.insert(ref, for: wkt)
            return ref
        } catch {
            throw SceneWarpError(.notGeoreferenced, href: href, "CRS not understood: \(error)")
        }
    }

    /// nil means the CRSs are the same: centres are used untransformed.
    private func transform(from target: CRS, to scene: OpenScene) throws -> CoordinateTransform? {
        let key = TransformKey(targetCRS: target.definition, sourceCRS: scene.grid.crsWKT)
        if let cached = transforms.value(for: key) { return cached }
        var transform: CoordinateTransform?
        if !target.reference.isSame(scene.reference) {
            do { transform = try CoordinateTransform(from: target.reference, to: scene.reference) } catch {
                throw SceneWarpError(.transform, href: scene.href,
                                     "no transformation from the target CRS \(target) to the file's \(scene.reference.name): \(error)")
            }
        }
        transforms.insert(transform, for: key)
        return transform
    }

    private func indexMap(target: GeoBox, scene: OpenScene) throws -> IndexMap {
        let targetKey = TargetKey(target)
        let (map, built) = try grids.map(IndexMapKey(target: targetKey, source: scene.grid)) {
            let exact = try transform(from: target.crs, to: scene)
            let (points, transformed) = grids.centres(CentresKey(target: targetKey, sourceCRS: scene.grid.crsWKT)) {
                SourceCentres(target: target, transform: exact, interpolate: interpolatesCentres)
            }
            if transformed { stats.centreTransforms += 1 }
            let map = IndexMap(centres: points, grid: scene.grid, transform: exact)
            stats.centresRefined += map.refinedCount
            return map
        }
        if built { stats.indexMapsBuilt += 1 }
        return map
    }
}
