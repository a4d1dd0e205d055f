# Shared by the bench/ scripts (sourced, not run): a free loopback port, and nginx with the RTMP module as a
# sink on loopback. The caller defines $work (a scratch directory) and the array pids (killed on exit).

# A TCP port nothing listens on right now.
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# nginx-rtmp on 127.0.0.1:PORT, application `live`, in $work/nginx; its pid joins $pids.
start_nginx_rtmp() {  # PORT
  mkdir -p "$work/nginx"
  cat > "$work/nginx/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 64; }
rtmp { server { listen 127.0.0.1:$1; application live { live on; } } }
CONF
  nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" & pids+=($!)
}
