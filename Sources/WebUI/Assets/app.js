// streamd's page: pipelines with live previews, the style picker, and stylizing a picture, all through the
// public HTTP API. The token lives in sessionStorage (this tab only) and travels in the Authorization header,
// never in a cookie or a URL; so previews, thumbnails and results are fetched with it and shown from blobs.
'use strict';

const TOKEN_KEY = 'streamd.token';
/** Previews streamed at once: each holds one of the browser's six connections to this server. */
const MAX_PREVIEWS = 4;
const POLL_MS = 1000;
/** A card whose WebRTC player failed or was refused tries again this long after, while its pipeline runs. */
const RTC_RETRY_MS = 30000;
/** Previews play over WebRTC where this browser has it; MJPEG is the fallback. */
const HAS_WEBRTC = typeof RTCPeerConnection === 'function';

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  cards: new Map(),        // pipeline name → card view
  snapshots: new Map(),    // pipeline name → last JSON
  models: [],
  paintings: [],           // paintings known to the server (GET /v1/styles), most recent first
  target: null,            // pipeline the style picker applies to
  pictureFile: null,
  resultURL: null,
  originalURL: null,
  modelsLoading: null,     // the running /v1/models request, if any
};

const $ = (selector, root = document) => root.querySelector(selector);

class APIError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

function authHeaders(extra = {}) {
  const headers = { ...extra };
  if (state.token) headers.Authorization = 'Bearer ' + state.token;
  return headers;
}

/** fetch with the token; a non-2xx answer becomes an APIError carrying the server's one-line message. */
async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: authHeaders(options.headers), cache: 'no-store' });
  if (response.ok) return response;
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && body.error) message = body.error;
  } catch (_) { /* not JSON: keep the status line */ }
  if (response.status === 401) {
    if (state.token) {
      forgetToken();
      message = `The token was refused (${message}). Enter the right one.`;
    } else {
      message = `This needs the API token (${message}): use “Enter token” above.`;
    }
  }
  throw new APIError(response.status, message);
}

async function postJSON(path, body) {
  const response = await api(path, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });
  return response.json();
}

function showError(element, error) {
  element.textContent = error ? (error.message || String(error)) : '';
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// MARK: token

function setToken(token) {
  state.token = token || null;
  if (state.token) sessionStorage.setItem(TOKEN_KEY, state.token); else sessionStorage.removeItem(TOKEN_KEY);
  renderToken();
}

function forgetToken() { setToken(null); }

function renderToken() {
  const label = $('#token-state');
  label.textContent = state.token ? 'Token set for this tab' : 'No token: read-only';
  label.classList.toggle('set', Boolean(state.token));
  $('#token-button').textContent = state.token ? 'Change token' : 'Enter token';
  $('#token-forget').hidden = !state.token;
}

function setUpToken() {
  const dialog = $('#token-dialog');
  $('#token-button').addEventListener('click', () => {
    $('#token-input').value = '';
    dialog.showModal();
  });
  $('#token-cancel').addEventListener('click', () => dialog.close());
  $('#token-forget').addEventListener('click', () => forgetToken());
  $('#token-form').addEventListener('submit', () => {
    const value = $('#token-input').value.trim();
    if (value) setToken(value);
    $('#token-input').value = '';
    // A locked server's views open once the token is there.
    refreshPipelines();
    if (!state.models.length) loadModels();
  });
  renderToken();
}

// MARK: pipelines

function formatNumber(value, digits = 0) {
  return typeof value === 'number' && isFinite(value) ? value.toFixed(digits) : '–';
}

function formatLatency(ms) {
  if (typeof ms !== 'number' || !isFinite(ms)) return '–';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function describeStyle(style) {
  if (!style) return '';
  const model = state.models.find((m) => m.name === style.model);
  let text = style.model;
  if (typeof style.style_index === 'number') {
    const name = model && model.styles[style.style_index];
    text += ` · ${name || 'style ' + style.style_index}`;
  } else if (style.style_mix) {
    text += ' · mix';
  } else if (style.style_image) {
    text += ` · painting ${style.style_image.label}`;
  }
  text += ` · strength ${formatNumber(style.strength, 2)}`;
  if (style.preserve_color) text += ' · colours kept';
  if (style.smoothing && style.smoothing.strength > 0) {
    text += ` · smoothing ${formatNumber(style.smoothing.strength, 2)} (${style.smoothing.mode})`;
  }
  return text;
}

function makeCard(name) {
  const node = $('#pipeline-template').content.firstElementChild.cloneNode(true);
  node.dataset.name = name;
  $('.name', node).textContent = name;
  $('.name', node).title = name;
  const view = {
    node,
    canvas: $('canvas', node),
    video: $('video.webrtc', node),
    own: $('video.own', node),
    rtc: null,               // the WHEP player: { pc, location, timer }
    preferRTC: HAS_WEBRTC,   // play over WebRTC when it can (the default); false once the person picks MJPEG
    rtcRetryAt: 0,           // when a failed WebRTC player may be tried again
    publish: null,           // the WHIP publisher: { pc, stream, location }
    overlay: $('.overlay', node),
    error: $('.error', node),
    frames: 0,
    lastFrame: 0,
    abort: null,
  };
  $('.start', node).addEventListener('click', () => lifecycle(name, 'start', view));
  $('.stop', node).addEventListener('click', () => lifecycle(name, 'stop', view));
  $('.watch-webrtc', node).addEventListener('click', () => {
    view.preferRTC = !view.rtc;
    if (view.rtc) showMJPEG(name, view); else watchWebRTC(name, view);
  });
  $('.sound', node).addEventListener('click', () => {
    view.video.muted = !view.video.muted;
    $('.sound', node).textContent = view.video.muted ? 'Sound on' : 'Sound off';
  });
  $('.use-camera', node).addEventListener('click', () => (view.publish ? stopCamera(name, view) : useCamera(name, view)));
  return view;
}

async function lifecycle(name, action, view) {
  const buttons = [$('.start', view.node), $('.stop', view.node)];
  buttons.forEach((b) => { b.disabled = true; });
  try {
    const snapshot = await postJSON(`/v1/pipelines/${encodeURIComponent(name)}/${action}`, {});
    showError(view.error, null);
    updateCard(view, snapshot);
  } catch (error) {
    showError(view.error, error);
    updateCard(view, state.snapshots.get(name));
  }
}

function updateCard(view, p) {
  if (!p) return;
  state.snapshots.set(p.name, p);
  const badge = $('.state', view.node);
  badge.textContent = p.state;
  badge.className = 'badge state ' + p.state;
  const frames = p.frames || {};
  $('.fps', view.node).textContent = formatNumber(p.fps, 1);
  $('.latency', view.node).textContent = formatLatency(p.latency_ms);
  $('.dropped', view.node).textContent = formatNumber(frames.dropped);
  $('.out', view.node).textContent = formatNumber(frames.out);
  $('.style-line', view.node).textContent = describeStyle(p.style);
  $('.use-camera', view.node).hidden = p.source !== 'whip:';
  $('.style-line', view.node).title = p.last_error ? 'Last error: ' + p.last_error : '';
  const running = ['running', 'starting', 'reconnecting'].includes(p.state);
  $('.start', view.node).disabled = running || p.state === 'stopping';
  $('.stop', view.node).disabled = !running;
  const list = $('.outputs', view.node);
  const outputs = p.outputs || [];
  while (list.children.length > outputs.length) list.lastElementChild.remove();
  outputs.forEach((o, i) => {
    let item = list.children[i];
    if (!item) {
      item = document.createElement('li');
      item.append(document.createElement('span'), document.createElement('span'));
      item.firstChild.className = 'target';
      list.append(item);
    }
    item.firstChild.textContent = o.name;
    item.firstChild.title = o.last_error ? `${o.name}: ${o.last_error}` : o.name;
    item.lastChild.textContent = `${o.state} · ${o.frames_written}`;
    item.lastChild.className = o.last_error && o.state !== 'connected' && o.state !== 'recording' ? 'bad'
      : (o.state === 'connected' || o.state === 'recording' ? 'ok' : '');
  });
  if (!running && view.frames > 0) {
    view.overlay.textContent = `Pipeline ${p.state}`;
    view.overlay.hidden = false;
  }
  // The default preview is WebRTC: a card on MJPEG because WebRTC failed or was refused tries again now and then.
  if (running && view.preferRTC && view.previewing && !view.rtc && performance.now() >= view.rtcRetryAt) watchWebRTC(p.name, view);
  if (p.state === 'failed' && p.last_error) showError(view.error, new Error(p.last_error));
}

async function refreshPipelines() {
  const status = $('#api-status');
  let list;
  try {
    list = (await (await api('/v1/pipelines')).json()).pipelines;
  } catch (error) {
    status.textContent = error.status === 401 ? 'This server’s views are locked: enter the token.' : `API unreachable: ${error.message}`;
    status.classList.add('bad');
    return;
  }
  status.textContent = `${list.length} pipeline${list.length === 1 ? '' : 's'} · updated ${new Date().toLocaleTimeString()}`;
  status.classList.remove('bad');
  const container = $('#pipelines');
  $('#pipelines-empty').hidden = list.length > 0;
  $('#pipelines-empty').textContent = 'No pipelines are configured.';
  const names = new Set(list.map((p) => p.name));
  for (const [name, view] of state.cards) {
    if (!names.has(name)) {
      if (view.abort) view.abort.abort();
      closePlayer(view);
      stopCamera(name, view);
      view.node.remove();
      state.cards.delete(name);
      state.snapshots.delete(name);
    }
  }
  list.forEach((p, index) => {
    let view = state.cards.get(p.name);
    if (!view) {
      view = makeCard(p.name);
      state.cards.set(p.name, view);
      container.append(view.node);
      if (index < MAX_PREVIEWS) {
        view.previewing = true;
        runPreview(p.name, view);   // MJPEG shows a picture at once; WebRTC takes over when it plays
      } else view.overlay.textContent = `Previews are shown for the first ${MAX_PREVIEWS} pipelines only.`;
    }
    updateCard(view, p);
  });
  renderTargets(list);
}

// MARK: preview

/**
 * Reads the MJPEG stream (multipart/x-mixed-replace; every part has a Content-Length) and calls `onPicture`
 * with each JPEG's bytes. Returns when the stream ends.
 */
async function readParts(reader, onPicture) {
  let buffer = new Uint8Array(0);
  const decoder = new TextDecoder();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    const joined = new Uint8Array(buffer.length + value.length);
    joined.set(buffer);
    joined.set(value, buffer.length);
    buffer = joined;
    for (;;) {
      const headerEnd = indexOfBlankLine(buffer);
      if (headerEnd < 0) break;
      const headers = decoder.decode(buffer.subarray(0, headerEnd));
      const match = /content-length:\s*(\d+)/i.exec(headers);
      if (!match) throw new Error('preview part without Content-Length');
      const length = Number(match[1]);
      const start = headerEnd + 4;
      if (buffer.length < start + length + 2) break;
      await onPicture(buffer.slice(start, start + length));
      buffer = buffer.slice(start + length + 2);
    }
  }
}

function indexOfBlankLine(bytes) {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) return i;
  }
  return -1;
}

async function runPreview(name, view) {
  const controller = new AbortController();
  view.abort = controller;
  const context = view.canvas.getContext('2d');
  while (!controller.signal.aborted) {
    try {
      const response = await api(`/v1/pipelines/${encodeURIComponent(name)}/preview`, { signal: controller.signal });
      view.overlay.textContent = 'Waiting for frames…';
      await readParts(response.body.getReader(), async (jpeg) => {
        const bitmap = await createImageBitmap(new Blob([jpeg], { type: 'image/jpeg' }));
        if (view.canvas.width !== bitmap.width || view.canvas.height !== bitmap.height) {
          view.canvas.width = bitmap.width;
          view.canvas.height = bitmap.height;
        }
        context.drawImage(bitmap, 0, 0);
        bitmap.close();
        noteFrame(view);
      });
    } catch (error) {
      if (controller.signal.aborted) return;
      view.overlay.textContent = `Preview unavailable: ${error.message}`;
      view.overlay.hidden = false;
    }
    await sleep(2000);
  }
}

/** One more picture shown on the card, by either preview (the count is the card's `data-frames`). */
function noteFrame(view) {
  view.frames += 1;
  view.lastFrame = performance.now();
  view.node.dataset.frames = String(view.frames);
  view.overlay.hidden = true;
}

/** A preview that stopped delivering says so instead of showing a frozen picture as if it were live. */
function watchStalls() {
  const now = performance.now();
  for (const view of state.cards.values()) {
    // A browser without requestVideoFrameCallback cannot count WebRTC pictures: its player is not judged.
    if (view.rtc && !view.video.requestVideoFrameCallback) continue;
    if (view.frames > 0 && now - view.lastFrame > 3000 && view.overlay.hidden) {
      view.overlay.textContent = 'No new frames';
      view.overlay.hidden = false;
    }
  }
}

// MARK: WebRTC

/** WHIP and WHEP do not trickle: the offer goes out once the browser has gathered its candidates (3 s at most). */
function gathered(pc, ms = 3000) {
  return new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    const timer = setTimeout(resolve, ms);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') { clearTimeout(timer); resolve(); }
    });
  });
}

/** POSTs the offer to a WHIP or WHEP endpoint, applies the answer: the session's URL (for DELETE). */
async function negotiate(pc, path) {
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const response = await api(path, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp });
  const location = response.headers.get('Location');
  await pc.setRemoteDescription({ type: 'answer', sdp: await response.text() });
  return location;
}

function endSession(location) {
  if (location) fetch(location, { method: 'DELETE', headers: authHeaders(), keepalive: true }).catch(() => {});
}

/** Resolves once `video` has shown frames; rejects after `ms`. */
function playing(video, ms) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const check = () => {
      const quality = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality().totalVideoFrames : 0;
      if (video.videoWidth > 0 && quality > 0) return resolve();
      if (performance.now() - started > ms) return reject(new Error(`no picture within ${ms / 1000} s`));
      setTimeout(check, 100);
    };
    check();
  });
}

/**
 * The card's preview over WebRTC (every card's default, and the WebRTC button); on any failure, or when the
 * session ends later, the MJPEG preview comes back, saying why, and WebRTC is tried again after RTC_RETRY_MS.
 * A `whip:` pipeline carries its publisher's sound, and a stream or file source its own (`sound` in the
 * snapshot): the player asks for it and starts muted (the person may be the publisher, and autoplay with sound
 * needs a click), with a button to hear it.
 */
async function watchWebRTC(name, view) {
  closePlayer(view);
  const pc = new RTCPeerConnection();
  const rtc = { pc, location: null, timer: null };
  view.rtc = rtc;
  pc.addTransceiver('video', { direction: 'recvonly' });
  const snapshot = state.snapshots.get(name);
  if (snapshot?.source === 'whip:' || snapshot?.sound) pc.addTransceiver('audio', { direction: 'recvonly' });
  const stream = new MediaStream();
  pc.addEventListener('track', (event) => {
    stream.addTrack(event.track);
    view.video.srcObject = stream;
    if (event.track.kind === 'audio') $('.sound', view.node).hidden = false;
  });
  pc.addEventListener('connectionstatechange', () => {
    if (view.rtc === rtc && ['failed', 'closed'].includes(pc.connectionState)) fallBack(name, view, new Error(`the connection ${pc.connectionState}`));
  });
  $('.watch-webrtc', view.node).textContent = 'Connecting…';
  try {
    rtc.location = await negotiate(pc, `/v1/pipelines/${encodeURIComponent(name)}/whep`);
    await playing(view.video, 10000);
    if (view.rtc !== rtc) return;                // closed meanwhile
    if (view.abort) view.abort.abort();          // the MJPEG stream's connection is not needed meanwhile
    view.video.hidden = false;
    view.canvas.hidden = true;
    view.overlay.hidden = true;
    view.node.dataset.preview = 'webrtc';
    $('.watch-webrtc', view.node).textContent = 'MJPEG';
    rtc.timer = setInterval(() => showRTCLatency(name, view), 1000);
    const counted = () => {
      if (view.rtc !== rtc) return;
      noteFrame(view);
      view.video.requestVideoFrameCallback(counted);
    };
    if (view.video.requestVideoFrameCallback) view.video.requestVideoFrameCallback(counted);
  } catch (error) {
    if (view.rtc === rtc) fallBack(name, view, error);
  }
}

/** WebRTC failed: MJPEG, the reason on the card, another try later. */
function fallBack(name, view, error) {
  showMJPEG(name, view);
  view.rtcRetryAt = performance.now() + RTC_RETRY_MS;
  const info = $('.rtc-info', view.node);
  info.textContent = `WebRTC unavailable (${error.message}): showing the MJPEG preview`;
  info.hidden = false;
}

function closePlayer(view) {
  if (!view.rtc) return;
  const rtc = view.rtc;
  view.rtc = null;
  clearInterval(rtc.timer);
  rtc.pc.close();
  endSession(rtc.location);
  view.video.srcObject = null;
  view.video.muted = true;
  $('.sound', view.node).hidden = true;
  $('.sound', view.node).textContent = 'Sound on';
}

/** Back to the MJPEG preview (the fallback, where every card starts, and the person's choice). */
function showMJPEG(name, view) {
  closePlayer(view);
  view.video.hidden = true;
  view.canvas.hidden = false;
  $('.rtc-info', view.node).hidden = true;
  view.overlay.hidden = view.frames === 0;
  delete view.node.dataset.preview;
  $('.watch-webrtc', view.node).textContent = 'WebRTC';
  if (!view.abort || view.abort.signal.aborted) runPreview(name, view);
}

/**
 * What the picture on screen lags the camera by, as far as this page can tell: the pipeline's own latency (a
 * frame decoded → sent), plus the browser's jitter buffer, plus half the round trip.
 */
async function showRTCLatency(name, view) {
  if (!view.rtc) return;
  let jitter = 0, rtt = 0, sound = null;
  (await view.rtc.pc.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video' && s.jitterBufferEmittedCount) jitter = s.jitterBufferDelay / s.jitterBufferEmittedCount * 1000;
    if (s.type === 'inbound-rtp' && s.kind === 'audio') sound = s;
    if (s.type === 'candidate-pair' && s.nominated && s.currentRoundTripTime !== undefined) rtt = s.currentRoundTripTime * 1000;
  });
  const pipeline = state.snapshots.get(name)?.latency_ms || 0;
  const info = $('.rtc-info', view.node);
  // Sound: what has arrived so far (samples, and energy: zero while the publisher is silent).
  const heard = sound && sound.totalSamplesReceived > Number(view.node.dataset.soundSamples || 0) && sound.totalAudioEnergy > 0;
  if (sound) {
    view.node.dataset.soundSamples = String(sound.totalSamplesReceived || 0);
    view.node.dataset.soundEnergy = String(sound.totalAudioEnergy || 0);
  }
  info.textContent = `WebRTC${heard ? ' with sound' : ''} · ≈ ${Math.round(pipeline + jitter + rtt / 2)} ms behind the source (pipeline ${Math.round(pipeline)}, jitter buffer ${Math.round(jitter)}, network ${Math.round(rtt / 2)})`;
  info.hidden = false;
}

/** Sends this browser's camera (and microphone, if allowed) to a `whip:` pipeline, then plays it stylized. */
async function useCamera(name, view) {
  const button = $('.use-camera', view.node);
  button.disabled = true;
  let stream = null, pc = null;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: true })
      .catch(() => navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } }));
    pc = new RTCPeerConnection();
    for (const track of stream.getTracks()) {
      const transceiver = pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
      if (track.kind === 'video' && transceiver.setCodecPreferences) {
        // streamd receives H.264: offer it first (and only, where the browser has it).
        const h264 = RTCRtpReceiver.getCapabilities('video').codecs.filter((c) => c.mimeType === 'video/H264');
        if (h264.length) transceiver.setCodecPreferences(h264);
      }
    }
    const location = await negotiate(pc, `/v1/pipelines/${encodeURIComponent(name)}/whip`);
    view.publish = { pc, stream, location };
    view.own.srcObject = stream;
    view.own.hidden = false;
    button.textContent = 'Stop camera';
    showError(view.error, null);
    await watchWebRTC(name, view);
  } catch (error) {
    if (pc) pc.close();
    if (stream) stream.getTracks().forEach((t) => t.stop());
    showError(view.error, error);
  } finally {
    button.disabled = false;
  }
}

function stopCamera(name, view) {
  if (!view.publish) return;
  view.publish.pc.close();
  view.publish.stream.getTracks().forEach((t) => t.stop());
  endSession(view.publish.location);
  view.publish = null;
  view.own.srcObject = null;
  view.own.hidden = true;
  $('.use-camera', view.node).textContent = 'Use my camera';
}

window.addEventListener('pagehide', () => {
  for (const [name, view] of state.cards) { closePlayer(view); stopCamera(name, view); }
});

// MARK: styles

function renderTargets(list) {
  const select = $('#style-target');
  const names = list.map((p) => p.name);
  const current = [...select.options].map((o) => o.value);
  if (names.join('\n') !== current.join('\n')) {
    select.replaceChildren(...names.map((n) => new Option(n, n)));
    if (state.target && names.includes(state.target)) select.value = state.target;
  }
  const target = names.includes(state.target) ? state.target : names[0] || null;
  if (target !== state.target) {
    state.target = target;
    syncStyleControls();
  }
  markActiveTile();
}

/** The strength and colour controls show the target pipeline's current values. */
function syncStyleControls() {
  const p = state.target && state.snapshots.get(state.target);
  if (!p || !p.style) return;
  $('#strength').value = p.style.strength;
  $('#strength-value').textContent = Number(p.style.strength).toFixed(2);
  $('#preserve-color').checked = Boolean(p.style.preserve_color);
  const smoothing = p.style.smoothing || { strength: 0, mode: 'flow' };
  $('#smoothing').value = smoothing.strength;
  showSmoothing(smoothing.strength);
  $('#smoothing-mode').value = smoothing.mode;
}

/** The smoothing slider's label: "off" at 0, its strength otherwise. */
function showSmoothing(strength) {
  $('#smoothing-value').textContent = Number(strength) > 0 ? Number(strength).toFixed(2) : 'off';
}

/** The temporal smoothing controls as the style API takes them. */
function smoothingBody() {
  return { strength: Number($('#smoothing').value), mode: $('#smoothing-mode').value };
}

function markActiveTile() {
  const p = state.target && state.snapshots.get(state.target);
  for (const tile of document.querySelectorAll('#styles .tile')) {
    let active = false;
    if (p && p.style && !p.style.style_image && tile.dataset.model === p.style.model) {
      active = tile.dataset.style === undefined || Number(tile.dataset.style) === (p.style.style_index ?? 0);
    }
    tile.setAttribute('aria-pressed', String(active));
  }
  for (const tile of document.querySelectorAll('#paintings .tile[data-painting]')) {
    const active = Boolean(p && p.style && p.style.style_image && p.style.style_image.id === tile.dataset.painting);
    tile.setAttribute('aria-pressed', String(active));
  }
}

/** Every style: one entry per single-style model, one per style of a multi-style model. */
function styleChoices() {
  const singles = [];
  const multi = [];
  for (const model of state.models) {
    // A network that takes any painting has no styles of its own: its tiles are the paintings.
    if (model.error || model.takes_painting) continue;
    if (model.styles.length > 1) {
      model.styles.forEach((styleName, index) => multi.push({
        model: model.name, style: index, label: `${model.name} · ${styleName}`, short: styleName, group: model,
      }));
    } else {
      singles.push({ model: model.name, style: null, label: model.name });
    }
  }
  return singles.concat(multi);
}

/** Loads the models once at a time: a second call while one runs waits for it instead of racing it. */
function loadModels() {
  if (!state.modelsLoading) {
    state.modelsLoading = fetchModels().finally(() => { state.modelsLoading = null; });
  }
  return state.modelsLoading;
}

async function fetchModels() {
  const container = $('#styles');
  let models;
  try {
    models = (await (await api('/v1/models')).json()).models;
  } catch (error) {
    showError($('#styles-error'), error);
    return;
  }
  showError($('#styles-error'), null);
  state.models = models;
  const choices = styleChoices();
  if (!choices.length) {
    container.replaceChildren(Object.assign(document.createElement('p'), { className: 'empty', textContent: 'No usable models in server.model_dirs.' }));
  } else {
    // Single-style models first, then one titled group per multi-style model.
    const items = [];
    let group = null;
    for (const choice of choices) {
      if (choice.group && choice.group !== group) {
        group = choice.group;
        const heading = document.createElement('h3');
        heading.className = 'group';
        heading.textContent = `${group.name}: ${group.styles.length} styles`;
        items.push(heading);
      }
      items.push(makeTile(choice));
    }
    container.replaceChildren(...items);
  }
  // Rebuilt options keep what the person had chosen.
  fillPictureStyles();
  markActiveTile();
  for (const view of state.cards.values()) updateCard(view, state.snapshots.get(view.node.dataset.name));
  loadThumbnails(choices);
}

/** The picture's style choices: every model style, then every painting; what the person had chosen stays. */
function fillPictureStyles(chosen = $('#picture-style').value) {
  const select = $('#picture-style');
  const options = styleChoices().map((c) => new Option(c.label, JSON.stringify({ model: c.model, style: c.style })));
  for (const painting of state.paintings) {
    options.push(new Option(`painting · ${painting.label}`, JSON.stringify({ painting: painting.id })));
  }
  select.replaceChildren(...options);
  if (chosen && [...select.options].some((o) => o.value === chosen)) select.value = chosen;
  updatePictureButton();
}

// MARK: paintings

/** The paintings the server already knows (they outlive reloads): a tile each, after the drop zone. */
async function loadPaintings() {
  try {
    state.paintings = (await (await api('/v1/styles')).json()).styles;
  } catch (error) {
    showError($('#styles-error'), error);
    return;
  }
  renderPaintings();
}

function renderPaintings() {
  const container = $('#paintings');
  const drop = $('#painting-drop');
  container.replaceChildren(drop, ...state.paintings.map(makePaintingTile));
  fillPictureStyles();
  markActiveTile();
}

function makePaintingTile(painting) {
  const tile = tileButton(painting.label, `${painting.label} (${painting.width}×${painting.height})`);
  tile.dataset.painting = painting.id;
  const image = $('img', tile);
  tile.addEventListener('click', () => applyPainting(painting.id, tile));
  api(painting.thumbnail).then((r) => r.blob()).then((blob) => { image.src = URL.createObjectURL(blob); })
    .catch((error) => { tile.title = `${painting.label}: ${error.message}`; });
  return tile;
}

/** A dropped or chosen painting: uploaded once (the server keeps its style), shown as a tile, applied to the
 * pipeline the picker targets, and chosen for the picture upload. */
async function addPainting(file) {
  const errorLine = $('#styles-error');
  if (!file) return;
  if (file.type && !file.type.startsWith('image/')) {
    showError(errorLine, new Error(`${file.name} is not a picture (${file.type}).`));
    return;
  }
  const drop = $('#painting-drop');
  drop.classList.add('busy');
  try {
    const response = await api(`/v1/styles?${new URLSearchParams({ name: file.name })}`, {
      method: 'POST', headers: { 'Content-Type': file.type || 'application/octet-stream' }, body: file,
    });
    const painting = await response.json();
    state.paintings = [painting, ...state.paintings.filter((p) => p.id !== painting.id)];
    showError(errorLine, null);
    renderPaintings();
    fillPictureStyles(JSON.stringify({ painting: painting.id }));
    const tile = $(`#paintings .tile[data-painting="${CSS.escape(painting.id)}"]`);
    if (state.target && tile) await applyPainting(painting.id, tile);
  } catch (error) {
    showError(errorLine, error);
  } finally {
    drop.classList.remove('busy');
  }
}

function applyPainting(id, tile) {
  return switchStyle(tile, 'painting', { style_image: id });
}

/** A file picker inside a drop zone: a chosen or dropped file goes to `onFile`. */
function dropZone(dropSelector, inputSelector, onFile) {
  const drop = $(dropSelector);
  $(inputSelector).addEventListener('change', (event) => onFile(event.target.files[0]));
  drop.addEventListener('dragover', (event) => { event.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('over');
    onFile(event.dataTransfer.files[0]);
  });
}

function setUpPaintings() {
  dropZone('#painting-drop', '#painting-file', addPainting);
}

/** A style tile: a button with an empty thumbnail and a caption, not pressed. */
function tileButton(caption, title) {
  const tile = document.createElement('button');
  tile.type = 'button';
  tile.className = 'tile';
  tile.title = title;
  tile.setAttribute('aria-pressed', 'false');
  const image = document.createElement('img');
  image.className = 'thumb';
  image.alt = '';
  image.width = 128;
  image.height = 96;
  const label = document.createElement('span');
  label.textContent = caption;
  tile.append(image, label);
  return tile;
}

function makeTile(choice) {
  const tile = tileButton(choice.short || choice.label, choice.label);
  tile.dataset.model = choice.model;
  if (choice.style !== null) tile.dataset.style = String(choice.style);
  tile.addEventListener('click', () => applyStyle(choice, tile));
  return tile;
}

/** Thumbnails two at a time (the server makes them one at a time, once each, and keeps them). */
async function loadThumbnails(choices) {
  const queue = [...choices];
  const worker = async () => {
    for (let choice = queue.shift(); choice; choice = queue.shift()) {
      const selector = `#styles .tile[data-model="${CSS.escape(choice.model)}"]` + (choice.style === null ? ':not([data-style])' : `[data-style="${choice.style}"]`);
      const tile = document.querySelector(selector);
      if (!tile) continue;
      const query = choice.style === null ? '' : `?style=${choice.style}`;
      try {
        const blob = await (await api(`/v1/models/${encodeURIComponent(choice.model)}/thumbnail${query}`)).blob();
        $('img', tile).src = URL.createObjectURL(blob);
      } catch (error) {
        tile.title = `${choice.label}: ${error.message}`;
        tile.classList.add('busy');
      }
    }
  };
  await Promise.all([worker(), worker()]);
}

function applyStyle(choice, tile) {
  const body = { model: choice.model };
  if (choice.style !== null) body.style_index = choice.style;
  return switchStyle(tile, 'style', body);
}

/** Switches the target pipeline to a tile's style (`choice`: the style API's body without the options). */
async function switchStyle(tile, what, choice) {
  const errorLine = $('#styles-error');
  if (!state.target) { showError(errorLine, new Error(`No pipeline to apply the ${what} to.`)); return; }
  const body = { ...choice, strength: Number($('#strength').value), preserve_color: $('#preserve-color').checked };
  tile.classList.add('busy');
  try {
    const snapshot = await postJSON(`/v1/pipelines/${encodeURIComponent(state.target)}/style`, body);
    showError(errorLine, null);
    const view = state.cards.get(state.target);
    if (view) updateCard(view, snapshot);
    markActiveTile();
  } catch (error) {
    showError(errorLine, error);
  } finally {
    tile.classList.remove('busy');
  }
}

async function applyOptions() {
  const errorLine = $('#styles-error');
  if (!state.target) return;
  try {
    const snapshot = await postJSON(`/v1/pipelines/${encodeURIComponent(state.target)}/style`, {
      strength: Number($('#strength').value), preserve_color: $('#preserve-color').checked, smoothing: smoothingBody(),
    });
    showError(errorLine, null);
    const view = state.cards.get(state.target);
    if (view) updateCard(view, snapshot);
  } catch (error) {
    showError(errorLine, error);
    syncStyleControls();
  }
}

function setUpStyles() {
  $('#style-target').addEventListener('change', (event) => {
    state.target = event.target.value;
    syncStyleControls();
    markActiveTile();
  });
  $('#strength').addEventListener('input', (event) => {
    $('#strength-value').textContent = Number(event.target.value).toFixed(2);
  });
  $('#strength').addEventListener('change', applyOptions);
  $('#preserve-color').addEventListener('change', applyOptions);
  $('#smoothing').addEventListener('input', (event) => showSmoothing(event.target.value));
  $('#smoothing').addEventListener('change', applyOptions);
  $('#smoothing-mode').addEventListener('change', applyOptions);
}

// MARK: picture

function updatePictureButton() {
  $('#picture-go').disabled = !state.pictureFile || !$('#picture-style').value;
}

function choosePicture(file) {
  const errorLine = $('#picture-error');
  if (!file) return;
  if (file.type && !file.type.startsWith('image/')) {
    showError(errorLine, new Error(`${file.name} is not a picture (${file.type}).`));
    return;
  }
  showError(errorLine, null);
  state.pictureFile = file;
  if (state.originalURL) URL.revokeObjectURL(state.originalURL);
  state.originalURL = URL.createObjectURL(file);
  const original = $('#picture-original');
  original.src = state.originalURL;
  original.hidden = false;
  $('#drop-text').textContent = `${file.name} (${Math.round(file.size / 1024)} KiB): drop another or choose a file`;
  updatePictureButton();
}

async function stylizePicture() {
  const errorLine = $('#picture-error');
  const file = state.pictureFile;
  if (!file) return;
  const choice = JSON.parse($('#picture-style').value);
  const query = new URLSearchParams({ strength: $('#strength').value, preserve_color: String($('#preserve-color').checked) });
  if (choice.painting) {
    query.set('style_image', choice.painting);
  } else {
    query.set('model', choice.model);
    if (choice.style !== null) query.set('style', String(choice.style));
  }
  const button = $('#picture-go');
  button.disabled = true;
  $('#picture-busy').hidden = false;
  try {
    const response = await api(`/v1/stylize?${query}`, {
      method: 'POST', headers: { 'Content-Type': file.type || 'application/octet-stream' }, body: file,
    });
    const blob = await response.blob();
    if (state.resultURL) URL.revokeObjectURL(state.resultURL);
    state.resultURL = URL.createObjectURL(blob);
    const result = $('#picture-result');
    result.src = state.resultURL;
    result.hidden = false;
    const link = $('#picture-download');
    link.href = state.resultURL;
    link.download = `${file.name.replace(/\.[^.]*$/, '')}-${choice.painting ? 'painting' : choice.model}.jpg`;
    link.hidden = false;
    showError(errorLine, null);
  } catch (error) {
    showError(errorLine, error);
  } finally {
    $('#picture-busy').hidden = true;
    updatePictureButton();
  }
}

function setUpPicture() {
  dropZone('#drop', '#picture-file', choosePicture);
  $('#picture-style').addEventListener('change', updatePictureButton);
  $('#picture-go').addEventListener('click', stylizePicture);
}

// MARK: start

async function pollForever() {
  for (;;) {
    await refreshPipelines();
    watchStalls();
    await sleep(POLL_MS);
  }
}

document.addEventListener('DOMContentLoaded', () => {
  setUpToken();
  setUpStyles();
  setUpPicture();
  setUpPaintings();
  loadModels();
  loadPaintings();
  pollForever();
});
