using System.Net;
using System.Net.Sockets;

namespace MlxBench.Core.Endpoints;

/// <summary>
/// A loopback port for a server Bench starts. It is drawn at random below the operating systems' ephemeral ranges
/// (Linux 32768-60999, macOS and Windows 49152-65535) and checked free: a port the OS handed out for "port 0" can be
/// handed to another process's outgoing or port-0 socket before our server binds it, and a health probe would then
/// reach the wrong server. If the server still loses the race, the launcher retries on another port.
/// </summary>
public static class FreePort
{
    private const int First = 20000;
    private const int Last = 32000;

    public static int Next()
    {
        for (int attempt = 0; attempt < 50; attempt++)
        {
            int port = Random.Shared.Next(First, Last);
            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
                listener.Stop();
                return port;
            }
            catch (SocketException)
            {
                // taken: draw another
            }
        }
        using var fallback = new TcpListener(IPAddress.Loopback, 0);
        fallback.Start();
        int any = ((IPEndPoint)fallback.LocalEndpoint).Port;
        fallback.Stop();
        return any;
    }
}
