// Uploading a timelapse: a real video is accepted with a progress bar and
// plays on the project page (served with range requests); a file that is not
// a video is refused with a clear message, by the browser or by the server.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createProject, launch, see, seeText, shot, signedUp, unique, until } from '../lib.mjs';

let browser;
let fay;
let projectId;

before(async () => {
  browser = await launch();
  [fay] = await signedUp(browser, 'Fay');
  projectId = await createProject(fay, `Game jam ${unique()}`);
});

after(async () => {
  await browser?.close();
});

/** A short real WebM video, recorded from a canvas by the browser itself. */
async function recordVideo(page) {
  const bytes = await page.evaluate(async () => {
    const canvas = document.createElement('canvas');
    canvas.width = 160;
    canvas.height = 90;
    const context = canvas.getContext('2d');
    const recorder = new MediaRecorder(canvas.captureStream(30), { mimeType: 'video/webm' });
    const chunks = [];
    recorder.ondataavailable = (event) => chunks.push(event.data);
    const stopped = new Promise((resolve) => {
      recorder.onstop = resolve;
    });
    recorder.start();
    // Draw frames until a few have been painted, then stop: no fixed wait.
    await new Promise((resolve) => {
      let frame = 0;
      const draw = () => {
        context.fillStyle = `hsl(${frame * 12}, 70%, 50%)`;
        context.fillRect(0, 0, 160, 90);
        frame += 1;
        if (frame < 15) requestAnimationFrame(draw);
        else resolve();
      };
      draw();
    });
    recorder.stop();
    await stopped;
    const buffer = await new Blob(chunks, { type: 'video/webm' }).arrayBuffer();
    return [...new Uint8Array(buffer)];
  });
  return Buffer.from(bytes);
}

async function openUpload(page) {
  await page.goto(`/projects/${projectId}`);
  await page.getByRole('link', { name: 'Upload Timelapse' }).click();
  const dialog = page.getByRole('dialog', { name: 'Upload a timelapse' });
  await see(dialog);
  return dialog;
}

test('a video uploads with progress and plays on the project page', async () => {
  const { page } = fay;
  const video = await recordVideo(page);
  assert.ok(video.length > 100, 'the browser recorded a video');
  const dialog = await openUpload(page);
  await dialog.getByLabel('Video file').setInputFiles({ name: 'day-one.webm', mimeType: 'video/webm', buffer: video });
  await dialog.getByRole('button', { name: 'Upload' }).click();
  const item = page.locator('.timelapse', { hasText: 'day-one.webm' });
  await see(item);
  await until(page, () => document.querySelector('.timelapse video')?.readyState >= 1);
  await shot(page, 'project-timelapse');

  // It stays after a reload, and the server answers ranges (seeking works).
  await page.reload();
  await see(page.locator('.timelapse', { hasText: 'day-one.webm' }));
  await until(page, () => document.querySelector('.timelapse video')?.readyState >= 1);
  const url = await page.locator('.timelapse video source').first().getAttribute('src');
  const range = await page.request.get(url, { headers: { range: 'bytes=0-9' } });
  assert.equal(range.status(), 206);
  assert.equal((await range.body()).length, 10);
});

test('a file that is not a video is refused in the browser', async () => {
  const { page } = fay;
  const dialog = await openUpload(page);
  await dialog.getByLabel('Video file').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a video') });
  await seeText(dialog.locator('#timelapse-file-error'), '“notes.txt” is not an MP4 or WebM video.');
  await dialog.getByRole('button', { name: 'Upload' }).click();
  await seeText(dialog.locator('#timelapse-file-error'), 'is not an MP4 or WebM video');
  await shot(page, 'upload-refused-type');
});

test('a file that only claims to be a video is refused by the server, with its message', async () => {
  const { page } = fay;
  const dialog = await openUpload(page);
  await dialog.getByLabel('Video file').setInputFiles({ name: 'fake.mp4', mimeType: 'video/mp4', buffer: Buffer.from('this is plain text, not an mp4 file') });
  await dialog.getByRole('button', { name: 'Upload' }).click();
  await seeText(dialog.locator('[data-upload-error]'), 'The file is not an mp4 or webm video.');
  await shot(page, 'upload-refused-server');
  await dialog.getByRole('link', { name: 'Cancel' }).click();
  assert.equal(await page.locator('.timelapse', { hasText: 'fake.mp4' }).count(), 0);
});
