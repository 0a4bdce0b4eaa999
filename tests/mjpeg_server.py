"""A tiny HTTP MJPEG server for the live-stream tests: serves a shared clip's frames as
multipart/x-mixed-replace JPEGs on 127.0.0.1 only, paced at --fps, looping the clip.

    python tests/mjpeg_server.py CLIP PORT [--fps 20]
"""

import argparse
import socket
import threading
import time

import cv2


def serve_client(conn, clip, fps):
    try:
        conn.recv(4096)  # the request; any path is the stream
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace;boundary=frame\r\n\r\n")
        while True:
            cap = cv2.VideoCapture(clip)
            t0 = time.perf_counter()
            n = 0
            while True:
                ok, img = cap.read()
                if not ok:
                    break
                jpg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
                conn.sendall(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpg) + jpg + b"\r\n")
                n += 1
                time.sleep(max(0.0, t0 + n / fps - time.perf_counter()))
            cap.release()
    except OSError:
        pass
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("clip")
    ap.add_argument("port", type=int)
    ap.add_argument("--fps", type=float, default=20.0)
    a = ap.parse_args()
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", a.port))
    ls.listen(8)
    print("ready", flush=True)
    while True:
        conn, _ = ls.accept()
        threading.Thread(target=serve_client, args=(conn, a.clip, a.fps), daemon=True).start()


if __name__ == "__main__":
    main()
