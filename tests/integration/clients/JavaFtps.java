// An FTPS client on Apache Commons Net's FTPSClient (Debian: libcommons-net-java), as Java
// partner applications use it. Run as a single-file program:
//
//   java -cp /usr/share/java/commons-net.jar JavaFtps.java explicit|implicit PORT USER PASSWORD CA_PEM CMD...
//
// CMD: "put LOCAL REMOTE", "get REMOTE LOCAL" or "list PATH" (one per argument). The server's
// certificate is checked against CA_PEM, host name included. Prints one line per command and
// exits 0 when every command succeeded; otherwise prints the server's reply and exits 1.
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;
import org.apache.commons.net.ftp.FTP;
import org.apache.commons.net.ftp.FTPReply;
import org.apache.commons.net.ftp.FTPSClient;

public class JavaFtps {
  static void fail(FTPSClient client, String what) {
    System.err.println(what + " failed: " + client.getReplyString().trim());
    System.exit(1);
  }

  public static void main(String[] args) throws Exception {
    boolean implicit = args[0].equals("implicit");
    int port = Integer.parseInt(args[1]);
    String user = args[2], password = args[3];

    X509Certificate ca;
    try (InputStream in = new FileInputStream(args[4])) {
      ca = (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
    }
    KeyStore trusted = KeyStore.getInstance(KeyStore.getDefaultType());
    trusted.load(null, null);
    trusted.setCertificateEntry("ca", ca);
    TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    factory.init(trusted);

    FTPSClient client = new FTPSClient("TLS", implicit);
    client.setTrustManager((X509TrustManager) factory.getTrustManagers()[0]);
    client.setEndpointCheckingEnabled(true);
    client.setConnectTimeout(20000);
    client.setDefaultTimeout(20000);
    client.connect("127.0.0.1", port);  // explicit: sends AUTH TLS here
    if (!FTPReply.isPositiveCompletion(client.getReplyCode())) fail(client, "connect");
    if (!client.login(user, password)) fail(client, "login");
    client.execPBSZ(0);
    client.execPROT("P");
    client.enterLocalPassiveMode();
    if (!client.setFileType(FTP.BINARY_FILE_TYPE)) fail(client, "TYPE I");
    for (int i = 5; i < args.length; ++i) {
      String[] cmd = args[i].split(" ");
      switch (cmd[0]) {
        case "put":
          try (InputStream in = new FileInputStream(cmd[1])) {
            if (!client.storeFile(cmd[2], in)) fail(client, args[i]);
          }
          break;
        case "get":
          try (OutputStream out = new FileOutputStream(cmd[2])) {
            if (!client.retrieveFile(cmd[1], out)) fail(client, args[i]);
          }
          break;
        case "list":
          String[] names = client.listNames(cmd[1]);
          if (names == null) fail(client, args[i]);
          System.out.println("names: " + String.join(",", names));
          break;
        default:
          throw new IllegalArgumentException(cmd[0]);
      }
      System.out.println("ok: " + args[i] + ": " + client.getReplyString().trim());
    }
    client.logout();
    client.disconnect();
  }
}
