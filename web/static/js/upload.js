// Uploading a timelapse: checks the file as the API will (type and size),
// streams it as the request body with a progress bar, and shows the new video
// on the project page without a reload. The API's refusal is shown as it is.

import { ApiError, api, csrfToken, formatTime, sentence } from './app.js';

const TYPES = { mp4: 'video/mp4', webm: 'video/webm' };

/** The video type of a file, from its type or, when the system gives none, its name. */
function videoType(file) {
  if (Object.values(TYPES).includes(file.type)) return file.type;
  const extension = file.name.split('.').pop().toLowerCase();
  return file.type ? null : TYPES[extension] || null;
}

function sizeText(bytes) {
  if (bytes < 1024 * 1024) return `${Math.ceil(bytes / 1024)} KB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GB`;
}

/** What is wrong with `file` before it is sent, or ''. */
function fileProblem(file, maxMb) {
  if (!file) return 'Choose a video file to upload.';
  if (!videoType(file)) return `“${file.name}” is not an MP4 or WebM video. Choose an .mp4 or .webm file.`;
  if (file.size > maxMb * 1024 * 1024) return `“${file.name}” is ${sizeText(file.size)}; a timelapse may be at most ${maxMb} MB.`;
  if (file.size === 0) return `“${file.name}” is empty.`;
  return '';
}

/** Sends the file as the body of one request; resolves to the created timelapse. */
function send(projectId, file, onProgress, signal) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open('POST', `/api/projects/${projectId}/timelapses?name=${encodeURIComponent(file.name)}`);
    request.setRequestHeader('content-type', videoType(file));
    request.setRequestHeader('x-csrf-token', csrfToken());
    request.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    request.addEventListener('load', () => {
      let body = null;
      try {
        body = JSON.parse(request.responseText);
      } catch {
        body = null;
      }
      if (request.status === 201 && body) resolve(body);
      else reject(new ApiError(request.status, (body && body.error) || { message: `the upload failed (${request.status})` }));
    });
    request.addEventListener('error', () => reject(new ApiError(0, { message: 'the connection was lost during the upload; try again' })));
    request.addEventListener('abort', () => reject(new ApiError(0, { code: 'aborted', message: 'the upload was cancelled' })));
    signal.addEventListener('abort', () => request.abort());
    request.send(file);
  });
}

/** Adds a new timelapse to the project page's list, newest first. */
function show(timelapse) {
  const list = document.querySelector('[data-timelapses]');
  if (!list) return false;
  const item = document.createElement('li');
  item.className = 'timelapse';
  item.dataset.timelapseId = timelapse.id;
  const video = document.createElement('video');
  video.controls = true;
  video.preload = 'metadata';
  video.setAttribute('aria-label', timelapse.filename);
  const source = document.createElement('source');
  source.src = timelapse.url;
  source.type = timelapse.content_type;
  video.append(source);
  const meta = document.createElement('div');
  meta.className = 'timelapse-meta';
  const name = document.createElement('span');
  name.className = 'timelapse-name';
  name.textContent = timelapse.filename;
  const details = document.createElement('span');
  details.className = 'muted small';
  details.textContent = `${sizeText(timelapse.size_bytes)} · ${formatTime(timelapse.created_at)}`;
  meta.append(name, details);
  item.append(video, meta, deleteButton(timelapse.id, timelapse.filename));
  list.prepend(item);
  const empty = document.querySelector('[data-timelapses-empty]');
  if (empty) empty.hidden = true;
  return true;
}

function deleteButton(id, filename) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'btn btn-quiet btn-small';
  button.dataset.deleteTimelapse = id;
  button.innerHTML = 'Delete<span class="visually-hidden"></span>';
  button.querySelector('span').textContent = ` ${filename}`;
  return button;
}

function wire(form) {
  const input = form.querySelector('input[type=file]');
  const error = document.getElementById(`${input.id}-error`);
  const formError = form.querySelector('[data-upload-error]');
  const progress = form.querySelector('[data-progress]');
  const bar = progress.querySelector('progress');
  const label = progress.querySelector('[data-progress-text]');
  const submit = form.querySelector('[data-submit]');
  const maxMb = Number(form.dataset.maxMb);
  let uploading = null;

  const problem = (message) => {
    error.textContent = message;
    error.hidden = !message;
    input.setAttribute('aria-invalid', message ? 'true' : 'false');
  };
  const refused = (message) => {
    formError.textContent = message;
    formError.hidden = !message;
  };
  const reset = () => {
    problem('');
    refused('');
    progress.hidden = true;
    bar.value = 0;
    submit.disabled = false;
  };

  input.addEventListener('change', () => {
    refused('');
    problem(input.files[0] ? fileProblem(input.files[0], maxMb) : '');
  });

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    refused('');
    const file = input.files[0];
    const wrong = fileProblem(file, maxMb);
    problem(wrong);
    if (wrong) {
      input.focus();
      return;
    }
    submit.disabled = true;
    progress.hidden = false;
    uploading = new AbortController();
    try {
      const timelapse = await send(form.dataset.projectId, file, (done) => {
        const percent = Math.round(done * 100);
        bar.value = percent;
        label.textContent = `Uploading… ${percent}%`;
      }, uploading.signal);
      label.textContent = 'Uploaded.';
      form.reset();
      const dialog = form.closest('dialog');
      if (dialog && show(timelapse)) {
        dialog.close();
        reset();
      } else {
        location.assign(`/projects/${form.dataset.projectId}#timelapses`);
      }
    } catch (failure) {
      progress.hidden = true;
      submit.disabled = false;
      if (failure.code !== 'aborted') refused(sentence(failure.message));
    } finally {
      uploading = null;
    }
  });

  // Closing the dialog (Cancel, Escape) stops an upload in flight.
  const dialog = form.closest('dialog');
  if (dialog) {
    dialog.addEventListener('close', () => {
      if (uploading) uploading.abort();
      reset();
    });
  }
}

for (const form of document.querySelectorAll('form[data-upload]')) wire(form);

// Deleting: the owner's buttons, shown only when this script can run them.
for (const button of document.querySelectorAll('[data-delete-timelapse]')) button.hidden = false;
document.addEventListener('click', async (event) => {
  const button = event.target.closest('[data-delete-timelapse]');
  if (!button) return;
  const item = button.closest('[data-timelapse-id]');
  const name = item?.querySelector('.timelapse-name')?.textContent || 'this timelapse';
  if (!window.confirm(`Delete “${name}”? This cannot be undone.`)) return;
  button.disabled = true;
  try {
    await api('DELETE', `/api/timelapses/${button.dataset.deleteTimelapse}`);
    item.remove();
    const list = document.querySelector('[data-timelapses]');
    const empty = document.querySelector('[data-timelapses-empty]');
    if (empty && list && !list.children.length) empty.hidden = false;
  } catch (failure) {
    button.disabled = false;
    window.alert(sentence(failure.message));
  }
});
