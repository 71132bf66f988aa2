"use strict";
// The study page: no framework, no build step. The server tells us which image
// was generated only in the reply to a stored practice answer.
(function () {
  const $ = (id) => document.getElementById(id);
  const store = window.localStorage;
  let study = null;      // {mode, exposure_ms, practice, trials, responses}
  let state = null;      // the session as the server last described it
  let shownAt = 0;       // performance.now() when the current images appeared
  let accepting = false; // an answer may be given now
  let maskTimer = null;
  let resumable = false; // state holds an unfinished session saved in this browser

  async function api(method, path, body) {
    const options = { method: method, headers: {} };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(path, options);
    const data = await response.json();
    if (!response.ok) { throw new Error(data.error || response.statusText); }
    return data;
  }

  function showError(error) { $("error").textContent = String(error.message || error); }

  function show(section) {
    for (const id of ["intro", "trial", "end"]) { $(id).hidden = id !== section; }
  }

  function loadImage(img, url) {
    return new Promise((resolve, reject) => {
      img.onload = resolve;
      img.onerror = () => reject(new Error("an image did not load; reload the page to continue"));
      img.src = url;
    });
  }

  // Stimuli arrive at their own resolution; show them about 256 pixels wide, enlarged by a
  // whole number so that nearest-neighbour scaling (CSS image-rendering: pixelated) keeps every pixel square.
  function enlarge(img) {
    const factor = Math.max(1, Math.round(256 / img.naturalWidth));
    img.style.width = (img.naturalWidth * factor) + "px";
    img.style.height = (img.naturalHeight * factor) + "px";
  }

  function setProgress() {
    const done = state.answered, total = state.total, practice = state.practice_total;
    let text;
    if (state.done) { text = "Finished"; }
    else if (done < practice) { text = "Practice " + (done + 1) + " of " + practice; }
    else { text = "Trial " + (done - practice + 1) + " of " + (total - practice); }
    $("progress").textContent = text;
    $("bar-fill").style.width = (100 * done / total) + "%";
  }

  function labels() {
    if (study.mode === "2afc") {
      $("question").textContent = "Which image is generated?";
      $("answer-left").textContent = "Left is generated (F)";
      $("answer-right").textContent = "Right is generated (J)";
    } else {
      $("question").textContent = "Is this image real or generated?";
      $("answer-left").textContent = "Real (F)";
      $("answer-right").textContent = "Generated (J)";
    }
  }

  function setAnswerButtons(enabled) {
    $("answer-left").disabled = !enabled;
    $("answer-right").disabled = !enabled;
  }

  async function render() {
    setProgress();
    if (state.done) {
      const s = state.score;
      $("score").textContent = "Thank you! You were right on " + s.correct + " of " + s.scored +
        " scored trials (" + Math.round(100 * s.correct / Math.max(1, s.scored)) + " %).";
      show("end");
      return;
    }
    const trial = state.trial;
    $("feedback").textContent = "";
    $("feedback").className = "";
    $("next").hidden = true;
    setAnswerButtons(false);
    const single = trial.images.length === 1;
    $("figure-right").hidden = single;
    for (const side of ["left", "right"]) { $("figure-" + side).className = ""; }
    show("trial");
    const loads = [loadImage($("image-left"), trial.images[0])];
    if (!single) { loads.push(loadImage($("image-right"), trial.images[1])); }
    await Promise.all(loads);
    for (const side of single ? ["left"] : ["left", "right"]) { enlarge($("image-" + side)); }
    shownAt = performance.now();
    accepting = true;
    setAnswerButtons(true);
    if (study.exposure_ms > 0) {
      maskTimer = window.setTimeout(() => {
        for (const side of ["left", "right"]) { $("figure-" + side).classList.add("masked"); }
      }, study.exposure_ms);
    }
  }

  function showFeedback(feedback, response) {
    const right = feedback.correct;
    $("feedback").className = right ? "ok" : "bad";
    if (study.mode === "2afc") {
      $("figure-" + feedback.correct_response).className = "generated";
      $("feedback").textContent = (right ? "Correct: " : "Not quite: ") + "the " + feedback.correct_response +
        " image (outlined) was generated.";
    } else {
      $("feedback").textContent = (right ? "Correct: " : "Not quite: ") + "this image was " +
        feedback.correct_response + ".";
    }
    for (const side of ["left", "right"]) { $("figure-" + side).classList.remove("masked"); }
    $("next").hidden = false;
    $("next").focus();
  }

  async function answer(side) {
    if (!accepting) { return; }
    accepting = false;
    window.clearTimeout(maskTimer);
    setAnswerButtons(false);
    const response = study.responses[side === "left" ? 0 : 1];
    const elapsed = Math.round(performance.now() - shownAt);
    try {
      const reply = await api("POST", "/api/sessions/" + state.session_id + "/answers",
        { trial_index: state.trial.index, response: response, response_ms: elapsed });
      state = reply.session;
      if (reply.feedback) { showFeedback(reply.feedback, response); }
      else { await render(); }
    } catch (error) {
      showError(error);
    }
  }

  async function next() {
    if ($("next").hidden) { return; }
    $("next").hidden = true;
    try { await render(); } catch (error) { showError(error); }
  }

  async function start() {
    $("start").disabled = true;
    try {
      if (resumable) {
        resumable = false;
        await render();
        return;
      }
      const body = store.getItem("rater_id") ? { rater_id: store.getItem("rater_id") } : {};
      const session = await api("POST", "/api/sessions", body);
      store.setItem("rater_id", session.rater_id);
      store.setItem("session_id", session.session_id);
      state = await api("GET", "/api/sessions/" + session.session_id);
      await render();
    } catch (error) {
      showError(error);
      $("start").disabled = false;
    }
  }

  document.addEventListener("keydown", (event) => {
    if (event.repeat || event.ctrlKey || event.metaKey || event.altKey) { return; }
    const key = event.key.toLowerCase();
    if (!$("trial").hidden && (key === "f" || key === "arrowleft")) { event.preventDefault(); answer("left"); }
    else if (!$("trial").hidden && (key === "j" || key === "arrowright")) { event.preventDefault(); answer("right"); }
    else if (key === "enter" || key === " ") {
      if (!$("intro").hidden && !$("start").disabled) { event.preventDefault(); start(); }
      else if (!$("trial").hidden && !$("next").hidden) { event.preventDefault(); next(); }
    }
  });
  $("answer-left").addEventListener("click", () => answer("left"));
  $("answer-right").addEventListener("click", () => answer("right"));
  $("next").addEventListener("click", next);
  $("start").addEventListener("click", start);
  $("again").addEventListener("click", () => { store.removeItem("session_id"); show("intro"); start(); });

  async function init() {
    study = await api("GET", "/api/study");
    labels();
    const what = study.mode === "2afc"
      ? "Each trial shows two images: one is a real image from a data set, the other was made by a generative model. Say which one is generated."
      : "Each trial shows one image: it is either real (from a data set) or made by a generative model. Say which.";
    const timing = study.exposure_ms > 0
      ? " The images are shown for " + study.exposure_ms + " ms, then hidden; answer after that."
      : " Take as long as you like.";
    const checks = study.attention_checks === 1 ? "1 of them checks" : study.attention_checks + " of them check";
    $("instructions").textContent = what + timing + " There are " + study.practice + " practice trials, then " +
      study.trials + " trials" + (study.attention_checks > 0 ? " (" + checks + " that you are paying attention)." : ".");
    const saved = store.getItem("session_id");
    if (saved) {
      try {
        const previous = await api("GET", "/api/sessions/" + saved);
        if (!previous.done) {
          state = previous;
          resumable = true;
          $("start").textContent = "Continue where you stopped";
          $("start").disabled = false;
          return;
        }
      } catch (error) { store.removeItem("session_id"); }
    }
    $("start").disabled = false;
  }

  init().catch(showError);
})();
