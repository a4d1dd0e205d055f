import Foundation
import FrameGraph
import Temporal
public import ServeConfig
public import Stylize

/// What the API accepts to change a running pipeline's style; nil fields keep their current value.
public struct StyleChange: Sendable, Equatable {
    public var model: String?
    /// A style of the (new or current) model by name; exclusive with `styleIndex` and `styleMix`.
    public var styleName: String?
    public var styleIndex: Int?
    public var styleMix: [StyleWeight]?
    /// A painting already known to the service's `StyleEmbeddings`, by id: the style of a network that takes
    /// any painting (switching to the built-in arbitrary-style network if the current model cannot take one).
    public var styleImage: String?
    public var strength: Double?
    public var preserveColor: Bool?
    /// Temporal smoothing from the next frame on. A change of smoothing alone keeps the smoothing history; a change
    /// of the picture (model, style, strength, colours) starts a new one.
    public var smoothing: SmoothingConfig?

    public init(model: String? = nil, styleName: String? = nil, styleIndex: Int? = nil, styleMix: [StyleWeight]? = nil,
                styleImage: String? = nil, strength: Double? = nil, preserveColor: Bool? = nil, smoothing: SmoothingConfig? = nil) {
        self.model = model; self.styleName = styleName; self.styleIndex = styleIndex; self.styleMix = styleMix
        self.styleImage = styleImage
        self.strength = strength; self.preserveColor = preserveColor; self.smoothing = smoothing
    }
}

/// A style change that cannot be applied, with a one-line reason (the API answers 400 with it).
public struct StyleError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The style a pipeline applies right now: the loaded model, the options, and a generation number the
/// stylize workers compare between frames to notice a switch. Thread-safe; read by every worker per frame.
public final class LiveStyle: @unchecked Sendable {
    public struct Current: @unchecked Sendable {
        public var generation: Int
        /// Bumped only by a change of the stylized picture (model, style, strength, colours), not by a change of
        /// smoothing alone: the smoothing history follows this one, so turning the smoother's strength up or
        /// down keeps blending across the change instead of starting over.
        public var look: Int
        public var model: StyleModel
        /// The model as named in the config or the request.
        public var modelName: String
        public var modelPath: String
        public var config: StyleConfig
        public var options: StyleOptions
        /// The painting a network that takes any painting applies (nil for every other model).
        public var painting: StyleEmbeddings.Painting?

        /// What a stylize worker applies to the next frame.
        var workerStyle: WorkerStyle {
            let smoothing = config.smoothing
            return WorkerStyle(model: model, identity: modelPath, options: options,
                               smoothing: SmoothingSettings(strength: smoothing.strength, mode: smoothing.mode == .still ? .still : .flow),
                               look: look)
        }
    }

    private let lock = NSLock()
    /// Held for a whole `apply`: changes are made one after another, each against the value the previous one
    /// left (two overlapping requests both take effect). `lock` alone guards `value`, so workers reading the
    /// style per frame never wait for a model to load.
    private let changes = NSLock()
    private var value: Current
    /// The service's paintings (shared by every pipeline, kept across reloads).
    let embeddings: StyleEmbeddings

    init(_ value: Current, embeddings: StyleEmbeddings) {
        self.value = value
        self.embeddings = embeddings
    }

    public var current: Current { lock.lock(); defer { lock.unlock() }; return value }

    /// Where a pipeline's `model` is looked up: `server.model_dirs`, then the standard search path. The service
    /// and `config check` both use this, so a name that passes the check is the model the service loads.
    public static func library(modelDirectories: [String]) -> ModelLibrary {
        ModelLibrary(directories: modelDirectories + ModelLibrary.standard().directories)
    }

    /// One issue per pipeline whose model cannot be found (or is no model streamd reads), named by its key;
    /// the models are not loaded, except a pipeline's that chooses a style by name (`style:`): its names are
    /// in the model.
    public static func modelIssues(in config: ServeConfig, file: String) -> [ConfigIssue] {
        let library = library(modelDirectories: config.server.modelDirs)
        return config.pipelines.compactMap { pipeline in
            let path: String
            do {
                path = try library.resolve(pipeline.style.model)
                _ = try ModelLoader.detect(path)
            } catch {
                return ConfigIssue(location: file, path: "pipelines.\(pipeline.name).model", message: "\(error)")
            }
            if let painting = pipeline.style.styleImage, !FileManager.default.isReadableFile(atPath: painting) {
                return ConfigIssue(location: file, path: "pipelines.\(pipeline.name).style_image", message: "\(painting): no such readable file")
            }
            guard let (key, choice) = try? styleChoice(pipeline.style), let key else { return nil }
            do {
                let model = try ModelLoader.load(path: path)
                // A network that takes paintings has no trained styles to choose from; `load` says so when it starts.
                guard model.info.styleEmbeddingSize == nil else { return nil }
                _ = try choice.weights(styleNames: model.info.styleNames)
                return nil
            } catch {
                return ConfigIssue(location: file, path: "pipelines.\(pipeline.name).\(key)", message: "\(error)")
            }
        }
    }

    /// Builds the initial style of a pipeline. Config models may be any path (the config is the admin's).
    static func load(_ config: StyleConfig, library: ModelLibrary, embeddings: StyleEmbeddings) throws -> Current {
        let path = try library.resolve(config.model)
        let model = try ModelLoader.load(path: path)
        try checkRunnable(model, name: config.model)
        let painting = try config.styleImage.map { try embeddings.add(path: $0) }
        let options = try options(for: config, model: model, painting: painting)
        return Current(generation: 0, look: 0, model: model, modelName: config.model, modelPath: path, config: config, options: options,
                       painting: painting)
    }

    /// The options for `config` on `model`: a painting's embedding for a network that takes any painting (which
    /// needs one, and no trained-style choice), else the trained styles chosen.
    static func options(for config: StyleConfig, model: StyleModel, painting: StyleEmbeddings.Painting?) throws -> StyleOptions {
        guard model.info.styleEmbeddingSize != nil else {
            if painting != nil { throw StyleError("model '\(config.model)' cannot take a painting as its style (style_image needs a network such as the built-in 'arbitrary')") }
            return try options(for: config, styleNames: model.info.styleNames)
        }
        guard let painting else { throw StyleError("model '\(config.model)' takes any painting as its style: give one (style_image)") }
        if config.styleName != nil || config.styleIndex != nil || config.styleMix != nil {
            throw StyleError("style, style_index and style_mix choose among a model's trained styles; model '\(config.model)' takes a painting (style_image)")
        }
        var options = try Self.options(for: config, styleNames: [])
        // Live, the strength blends pixels with the frame as for every model (the content's own embedding,
        // Magenta's way for still pictures, would change with every frame).
        options.styleWeights = painting.embedding
        return options
    }

    /// The trained style `config` chooses, and the key that chose it (`style`, `style_index`, `style_mix`; nil for
    /// the first style).
    static func styleChoice(_ config: StyleConfig) throws(StyleChoiceError) -> (key: String?, choice: StyleChoice) {
        let choice = try StyleChoice(name: config.styleName, index: config.styleIndex,
                                     mix: config.styleMix?.map { StyleChoice.Weight(index: $0.index, weight: $0.weight) })
        switch choice {
        case .first: return (nil, choice)
        case .name: return ("style", choice)
        case .index: return ("style_index", choice)
        case .mix: return ("style_mix", choice)
        }
    }

    static func options(for config: StyleConfig, styleNames: [String]) throws -> StyleOptions {
        let key: String?, choice: StyleChoice
        do { (key, choice) = try styleChoice(config) } catch { throw StyleError(error.description) }
        let weights: [Float]?
        do { weights = try choice.weights(styleNames: styleNames) } catch {
            // The key first, then the rule's own words (the same on every path).
            throw StyleError((key.map { "\($0): " } ?? "") + error.description)
        }
        let strength = Float(config.strength)
        guard config.strength.isFinite, strength >= 0, strength <= 1 else {
            throw StyleError("strength must be between 0 and 1, got \(config.strength)")
        }
        return StyleOptions(styleWeights: weights, strength: strength, preserveColor: config.preserveColor)
    }

    /// A model that loads may still fail to build a session (an operator the engine cannot plan): try it on a
    /// small picture before anything is swapped, so the running pipeline never gets a model it cannot run.
    static func checkRunnable(_ model: StyleModel, name: String) throws {
        do {
            let probe = try Stylizer(model: model)
            _ = try probe.session.profile(height: 64, width: 64)
        } catch {
            throw StyleError("model '\(name)' loads but cannot run: \(error)")
        }
    }

    /// Applies `change`: loads a new model first (from `modelDirectories` only), validates everything, then
    /// swaps atomically. Workers pick it up at their next frame; nothing is interrupted.
    func apply(_ change: StyleChange, modelDirectories: [String]) throws -> Current {
        changes.lock(); defer { changes.unlock() }
        let old = current
        var config = old.config
        var model = old.model, modelPath = old.modelPath, modelName = old.modelName
        var painting = old.painting
        var change = change
        if let id = change.styleImage {
            guard let known = embeddings.painting(id: id) else {
                throw StyleError("no painting '\(id)' is known: upload it first (POST /v1/styles with the picture as the body)")
            }
            painting = known
            // A painting needs a network that takes one: live, the built-in real-time one unless one is named.
            if change.model == nil && old.model.info.styleEmbeddingSize == nil { change.model = BuiltinModels.arbitraryFastName }
        }
        if let name = change.model, name != old.modelName {
            modelPath = try Self.resolveInside(name, directories: modelDirectories)
            do { model = try ModelLoader.load(path: modelPath) } catch {
                throw StyleError("model '\(name)' cannot be loaded: \(error)")
            }
            try Self.checkRunnable(model, name: name)
            modelName = name
            config.model = name
            // A new model starts from its first style unless the request says otherwise.
            config.styleName = nil
            config.styleIndex = nil
            config.styleMix = nil
            if model.info.styleEmbeddingSize == nil { painting = nil }
        }
        if let strength = change.strength {
            guard strength >= 0, strength <= 1, strength.isFinite else { throw StyleError("strength must be between 0 and 1, got \(strength)") }
            config.strength = strength
        }
        if let preserve = change.preserveColor { config.preserveColor = preserve }
        if let smoothing = change.smoothing {
            guard smoothing.strength.isFinite, smoothing.strength >= 0, smoothing.strength <= 1 else {
                throw StyleError("smoothing strength must be between 0 and 1, got \(smoothing.strength)")
            }
            config.smoothing = smoothing
        }
        let chosen = [change.styleName.map { _ in "style" }, change.styleIndex.map { _ in "style_index" },
                      change.styleMix.map { _ in "style_mix" }].compactMap { $0 }
        if chosen.count > 1 { throw StyleError("\(chosen.joined(separator: " and ")) are exclusive") }
        if change.styleName != nil || change.styleIndex != nil || change.styleMix != nil {
            config.styleName = change.styleName
            config.styleIndex = change.styleIndex
            config.styleMix = change.styleMix
        }
        let options = try Self.options(for: config, model: model, painting: painting)
        lock.lock(); defer { lock.unlock() }
        let looksDifferent = modelPath != old.modelPath || options != old.options
        value = Current(generation: value.generation + 1, look: value.look + (looksDifferent ? 1 : 0), model: model, modelName: modelName, modelPath: modelPath,
                        config: config, options: options, painting: painting)
        return value
    }

    /// A model name looked up in `directories`, or a path that (symlinks resolved) lies inside one of them.
    /// A built-in model (`default`, unless a directory has its own) is no file: any client may choose it.
    static func resolveInside(_ name: String, directories: [String]) throws -> String {
        guard !name.isEmpty, !name.contains("\0") else { throw StyleError("model name is empty") }
        if !name.contains("/"), let path = try? ModelLibrary(directories: directories).resolve(name), BuiltinModels.isBuiltin(path) {
            return path
        }
        guard !directories.isEmpty else { throw StyleError("no model_dirs are configured, so the API cannot load models") }
        let roots = directories.map { URL(fileURLWithPath: $0).resolvingSymlinksInPath().standardizedFileURL.path }
        let path: String
        if name.contains("/") {
            path = name
        } else {
            guard name != ".", name != ".." else { throw StyleError("model '\(name)' is not a model name") }
            do { path = try ModelLibrary(directories: directories).resolve(name) } catch {
                throw StyleError("model '\(name)' not found in the model directories (\(directories.joined(separator: ", ")))")
            }
        }
        let real = URL(fileURLWithPath: path).resolvingSymlinksInPath().standardizedFileURL.path
        guard roots.contains(where: { real.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") }) else {
            throw StyleError("model '\(name)' is outside the configured model directories")
        }
        guard FileManager.default.fileExists(atPath: real) else { throw StyleError("model '\(name)' not found") }
        return real
    }
}
